"""Bearer tokens: tenant tokens (stored hashed) for /v1, the service token for /internal.

A tenant token is 256 random bits, so a plain sha256 is a safe way to store it (no password
stretching needed) and lets a lookup be an index probe. Lookups are cached for a short time
because every request needs one; a revoked token keeps working for at most that long.
"""

import hashlib
import hmac
import secrets
import time
from uuid import UUID, uuid4

import asyncpg

from texpipe_api.db import queries
from texpipe_api.db.conn import Conn
from texpipe_api.errors import UnauthorizedError

TOKEN_PREFIX = "tpk_"
_CACHE_MAX = 10_000
PING_TENANT = "texpipe-ping"
"""The system tenant that owns the enqueue ping's document (``ping.py``); it has no tokens."""
RESERVED_TENANTS = frozenset({PING_TENANT})


def new_token() -> str:
    """A fresh tenant token (shown once, never stored in clear)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database stores for ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or UnauthorizedError."""
    if not header:
        raise UnauthorizedError("send 'Authorization: Bearer <token>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
    return token


def check_service_token(header: str | None, expected: str) -> None:
    """Accept only the service token; constant time, so timing reveals nothing of it."""
    token = bearer_token(header)
    if not hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
        raise UnauthorizedError("invalid service token")


class TenantResolver:
    """Maps a tenant token to its tenant, with a small time-bounded cache."""

    def __init__(self, pool: asyncpg.Pool, *, cache_s: float) -> None:
        self._pool = pool
        self._cache_s = cache_s
        self._cache: dict[str, tuple[UUID, float]] = {}

    async def tenant_for(self, header: str | None) -> UUID:
        """The tenant of the request's bearer token, or UnauthorizedError."""
        digest = hash_token(bearer_token(header))
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        async with self._pool.acquire() as conn:
            tenant_id = await queries.tenant_for_token(conn, digest)
        if tenant_id is None:
            raise UnauthorizedError("unknown or revoked token")
        if self._cache_s > 0:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()  # crude but bounded; misses only cost one query
            self._cache[digest] = (tenant_id, now + self._cache_s)
        return tenant_id


async def create_token(conn: Conn, tenant_name: str) -> str:
    """Create the tenant if new and a token for it; returns the token (the only copy)."""
    if not tenant_name or len(tenant_name) > 200:
        raise ValueError("the tenant name must be 1 to 200 characters")
    if tenant_name in RESERVED_TENANTS:
        # A token for it would show the ping's documents to whoever holds it.
        raise ValueError(f"the tenant name {tenant_name!r} is reserved for texpipe itself")
    token = new_token()
    async with conn.transaction():
        tenant_id = await queries.upsert_tenant(conn, tenant_id=uuid4(), name=tenant_name)
        await queries.insert_token(conn, token_sha256=hash_token(token), tenant_id=tenant_id)
    return token
