"""The S3 object store that the api and the compiler share, over one aioboto3 client.

Objects carry their sha256 in the ``sha256`` user metadata so that a reader can check an
object (the api's result check) without downloading it.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from texpipe_servicekit.settings import S3Settings

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
else:
    S3Client = Any

_MISSING = {"404", "NoSuchKey", "NotFound"}
_UNAVAILABLE = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}


class ObjectTooLargeError(Exception):
    """An object exceeds the size its reader accepts."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a HEAD tells about an object."""

    size: int
    sha256: str | None
    content_type: str | None


def is_missing(error: ClientError) -> bool:
    """Whether an S3 error means the object (or bucket) does not exist."""
    return str(error.response.get("Error", {}).get("Code")) in _MISSING


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or one it was raised from) says S3 itself is down or overloaded
    rather than that a request was wrong: no connection, a timeout, a 5xx or a throttle."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BotoCoreError | aiohttp.ClientError | ConnectionError):
            return True
        if isinstance(current, ClientError):
            status = current.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = str(current.response.get("Error", {}).get("Code"))
            return status >= 500 or code in _UNAVAILABLE
        current = current.__cause__ or current.__context__
    return False


class S3Store:
    """Typed operations on one bucket."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    async def ping(self) -> None:
        """Raise unless the bucket answers."""
        await self._client.head_bucket(Bucket=self.bucket)

    async def put(
        self, key: str, data: bytes, *, content_type: str, sha256: str | None = None
    ) -> None:
        """Store ``data`` under ``key``."""
        metadata = {"sha256": sha256} if sha256 else {}
        await self._client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata
        )

    async def get(self, key: str, *, max_bytes: int | None = None) -> bytes:
        """Read a whole object; refuse one larger than ``max_bytes``."""
        response = await self._client.get_object(Bucket=self.bucket, Key=key)
        if max_bytes is not None and response["ContentLength"] > max_bytes:
            response["Body"].close()
            raise ObjectTooLargeError(f"{key} is {response['ContentLength']} bytes > {max_bytes}")
        async with response["Body"] as body:
            return await body.read()

    @asynccontextmanager
    async def stream(
        self, key: str, *, max_bytes: int | None = None, chunk_size: int = 256 * 1024
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        """Yield the object's size and an iterator over its chunks; the body is closed after.

        Refuses (ObjectTooLargeError) an object larger than ``max_bytes`` before reading it.
        """
        response = await self._client.get_object(Bucket=self.bucket, Key=key)
        body = response["Body"]
        try:
            size = response["ContentLength"]
            if max_bytes is not None and size > max_bytes:
                raise ObjectTooLargeError(f"{key} is {size} bytes > {max_bytes}")
            yield size, body.iter_chunks(chunk_size)
        finally:
            body.close()

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's size and recorded sha256, or None when it does not exist."""
        try:
            response = await self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return ObjectInfo(
            size=response["ContentLength"],
            sha256=response.get("Metadata", {}).get("sha256"),
            content_type=response.get("ContentType"),
        )

    async def keys(self, prefix: str, *, limit: int = 1000) -> list[str]:
        """Up to ``limit`` keys under ``prefix`` (one listing page)."""
        response = await self._client.list_objects_v2(
            Bucket=self.bucket, Prefix=prefix, MaxKeys=limit
        )
        return [item["Key"] for item in response.get("Contents", []) if "Key" in item]

    async def delete(self, keys: list[str]) -> None:
        """Delete ``keys`` (missing ones are no error)."""
        if keys:
            await self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys]}
            )

    async def presigned_get(
        self, key: str, *, expires_s: int, download_name: str | None = None
    ) -> str:
        """A short-lived URL that lets a client GET the object directly from S3."""
        params: dict[str, str] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        url: str = await self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_s
        )
        return url


@asynccontextmanager
async def open_s3_store(settings: S3Settings) -> AsyncIterator[S3Store]:
    """One client for the life of the service (the aiobotocore-recommended pattern)."""
    session = aioboto3.Session()
    config = AioConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_read_timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    async with session.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key.get_secret_value(),
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        config=config,
    ) as client:
        yield S3Store(client, settings.s3_bucket)
