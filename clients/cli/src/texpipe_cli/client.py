"""The api's public HTTP API, as the CLI uses it (aiohttp; bearer token; problem+json errors).

Every transport failure becomes :class:`ServiceError` and every error answer
:class:`ApiProblemError`, so commands only deal with the CLI's own errors.
"""

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Self

import aiohttp

from texpipe_cli import __version__
from texpipe_cli.config import ApiConfig
from texpipe_cli.errors import ApiProblemError, ServiceError
from texpipe_cli.models import (
    Created,
    DocumentEvent,
    Job,
    parse_created,
    parse_event,
    parse_job,
    parse_job_id,
)
from texpipe_cli.sse import SseParser

CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 120.0  # an upload of a large project, a PDF download
POLL_SLACK_S = 15.0  # a long-poll may take its wait plus this before we call it lost
STREAM_IDLE_S = 60.0  # the api sends a heartbeat every 15 s: this much silence is a lost stream


class ApiClient:
    """One HTTP session to the api. Use as ``async with ApiClient(config) as api``."""

    def __init__(self, config: ApiConfig) -> None:
        self.url = config.url
        self._token = config.token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            headers={
                "Authorization": f"Bearer {self._token}",
                "User-Agent": f"texpipe-cli/{__version__}",
            },
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        redirects: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        assert self._session is not None, "use ApiClient as an async context manager"
        timeout = (
            None
            if timeout_s is None
            else aiohttp.ClientTimeout(total=timeout_s, connect=CONNECT_TIMEOUT_S)
        )
        try:
            async with self._session.request(
                method,
                f"{self.url}{path}",
                json=body,
                headers=headers,
                params=params,
                timeout=timeout,
                allow_redirects=redirects,
            ) as response:
                if response.status >= 400:
                    raise await _problem(response)
                yield response
        except aiohttp.ClientConnectionError as exc:
            raise ServiceError(f"cannot reach the api at {self.url}: {exc}") from exc
        except TimeoutError as exc:
            raise ServiceError(f"the api at {self.url} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise ServiceError(f"HTTP error talking to {self.url}: {exc}") from exc

    async def _json(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> object:
        async with self._request(
            method, path, body=body, headers=headers, params=params, timeout_s=timeout_s
        ) as response:
            try:
                return await response.json(content_type=None)
            except ValueError as exc:
                raise ServiceError(f"{method} {path}: the api's answer is not JSON") from exc

    async def create_document(self, body: Mapping[str, object]) -> Created:
        """POST /v1/documents"""
        return parse_created(await self._json("POST", "/v1/documents", body=body))

    async def update_document(
        self, document_id: str, body: Mapping[str, object], *, if_match: int | None
    ) -> Created:
        """PUT /v1/documents/{id}: a new revision (the whole file set)."""
        headers = {} if if_match is None else {"If-Match": f'"{if_match}"'}
        raw = await self._json("PUT", f"/v1/documents/{document_id}", body=body, headers=headers)
        return parse_created(raw)

    async def compile(self, document_id: str) -> str:
        """POST /v1/documents/{id}/compile -> the job id."""
        return parse_job_id(await self._json("POST", f"/v1/documents/{document_id}/compile"))

    async def get_job(self, job_id: str, *, wait_s: float = 0) -> Job:
        """GET /v1/jobs/{id}, long-polling up to ``wait_s`` seconds for a final state."""
        params = {"wait": f"{wait_s:g}"} if wait_s > 0 else None
        raw = await self._json(
            "GET", f"/v1/jobs/{job_id}", params=params, timeout_s=wait_s + POLL_SLACK_S
        )
        return parse_job(raw)

    async def cancel_job(self, job_id: str) -> Job:
        """POST /v1/jobs/{id}/cancel"""
        return parse_job(await self._json("POST", f"/v1/jobs/{job_id}/cancel"))

    async def document_events(
        self, document_id: str, *, last_event_id: int | None
    ) -> AsyncIterator[DocumentEvent]:
        """GET /v1/documents/{id}/events: the events after ``last_event_id``, as they come."""
        assert self._session is not None, "use ApiClient as an async context manager"
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        path = f"/v1/documents/{document_id}/events"
        timeout = aiohttp.ClientTimeout(
            total=None, connect=CONNECT_TIMEOUT_S, sock_read=STREAM_IDLE_S
        )
        parser = SseParser()
        try:
            async with self._session.get(
                f"{self.url}{path}", headers=headers, timeout=timeout
            ) as response:
                if response.status >= 400:
                    raise await _problem(response)
                async for raw in response.content:
                    sse = parser.feed(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
                    if sse is not None:
                        yield parse_event(sse.id, sse.event, sse.data)
        except aiohttp.ClientConnectionError as exc:
            raise ServiceError(f"the event stream from {self.url} broke: {exc}") from exc
        except TimeoutError as exc:
            raise ServiceError(f"the event stream from {self.url} went silent") from exc
        except aiohttp.ClientError as exc:
            raise ServiceError(f"HTTP error talking to {self.url}: {exc}") from exc

    async def job_log(self, job_id: str) -> bytes:
        """GET /v1/jobs/{id}/log"""
        async with self._request("GET", f"/v1/jobs/{job_id}/log") as response:
            return await response.read()

    async def pdf_location(self, document_id: str) -> str:
        """The presigned URL the api redirects to (not followed)."""
        path = f"/v1/documents/{document_id}/pdf"
        async with self._request("GET", path, redirects=False) as response:
            location = response.headers.get("Location")
            if response.status not in (301, 302, 303, 307, 308) or not location:
                raise ServiceError(f"GET {path}: expected a redirect, got {response.status}")
            return location

    async def download_pdf(self, document_id: str) -> bytes:
        """GET /v1/documents/{id}/pdf?download=1: the PDF's bytes."""
        path = f"/v1/documents/{document_id}/pdf"
        async with self._request("GET", path, params={"download": "1"}) as response:
            data = await response.read()
        if not data.startswith(b"%PDF-"):
            raise ServiceError(f"GET {path}: the answer is not a PDF")
        return data


async def _problem(response: aiohttp.ClientResponse) -> ApiProblemError:
    """An error answer as an ApiProblemError (problem+json when the api wrote it)."""
    text = await response.text(errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ApiProblemError(
            response.status, f"HTTP_{response.status}", response.reason or "", ""
        )
    return ApiProblemError(
        response.status,
        str(body.get("code") or f"HTTP_{response.status}"),
        str(body.get("title") or response.reason or ""),
        str(body.get("detail") or ""),
        extra={k: v for k, v in body.items() if k not in {"code", "title", "detail"}},
    )
