"""Live document events: a Server-Sent Events stream of a document's event log.

The log (``document_events``, migration 0004) gets a row for each new revision and each job
state change, numbered per document without gaps and in commit order, by triggers in the
transaction that made the change. A stream sends every event after the client's
``Last-Event-ID`` (the event's number is its SSE ``id``), then follows: the NOTIFY listener
wakes it (channel ``texpipe_document_events``) and it reads what is new. So a reconnect with
``Last-Event-ID`` loses nothing, whichever api process served the first connection. A comment
line (``: keepalive``) every ``event_heartbeat_s`` keeps idle proxies from closing it.

Streams hold no database connection while they wait, and at most
``max_event_streams_per_tenant`` are open per tenant in one api process (429 beyond).
"""

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from uuid import UUID

import asyncpg

from texpipe_api.db import event_queries
from texpipe_api.errors import TooManyStreamsError
from texpipe_api.schemas import JobEvent, RevisionEvent
from texpipe_api.waiters import JobWaiters

HEARTBEAT = b": keepalive\n\n"
RETRY_MS = 2000
"""What the stream tells clients to wait before reconnecting (the SSE ``retry`` field)."""
PAGE = 500
"""Events read per query while catching up."""

Send = Callable[[bytes], Awaitable[None]]


class StreamSlots:
    """Counts open streams per tenant; at most ``limit`` each."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: Counter[UUID] = Counter()

    @contextmanager
    def hold(self, tenant_id: UUID) -> Iterator[None]:
        """One stream of ``tenant_id`` while inside (TooManyStreamsError past the limit)."""
        if self._open[tenant_id] >= self._limit:
            raise TooManyStreamsError(
                f"at most {self._limit} event streams per tenant are open at once"
                " (max_event_streams_per_tenant); close one, or retry later",
                limit=self._limit,
            )
        self._open[tenant_id] += 1
        try:
            yield
        finally:
            self._open[tenant_id] -= 1
            if self._open[tenant_id] <= 0:
                del self._open[tenant_id]

    def open_for(self, tenant_id: UUID) -> int:
        """How many streams ``tenant_id`` has open."""
        return self._open[tenant_id]


def format_event(seq: int, kind: str, data: str, at: datetime) -> bytes:
    """One SSE event: ``id`` (the number to resume after), ``event`` (``job`` or
    ``revision``) and ``data`` (one line of JSON, the shapes of ``JobEvent`` and
    ``RevisionEvent``)."""
    fields = {**json.loads(data), "at": at}
    model = JobEvent if kind == "job" else RevisionEvent
    body = model.model_validate(fields).model_dump_json(exclude_none=True)
    return f"id: {seq}\nevent: {kind}\ndata: {body}\n\n".encode()


def opening(after: int) -> bytes:
    """The first bytes of a stream: the reconnection delay, and where it starts."""
    return f"retry: {RETRY_MS}\n: events after {after}\n\n".encode()


async def send_after(pool: asyncpg.Pool, document_id: UUID, after: int, send: Send) -> int:
    """Send every event after ``after``; returns the number of the last one sent."""
    while True:
        async with pool.acquire() as conn:
            rows = await event_queries.events_after(conn, document_id, after, PAGE)
        for row in rows:
            await send(format_event(row["seq"], row["type"], row["data"], row["created_at"]))
            after = row["seq"]
        if len(rows) < PAGE:
            return after


async def follow(
    pool: asyncpg.Pool,
    waiters: JobWaiters,
    document_id: UUID,
    *,
    after: int,
    send: Send,
    heartbeat_s: float,
) -> None:
    """Send the document's events after ``after``, then each new one as it is committed,
    until the api shuts down (or ``send`` raises: the client went away)."""
    with waiters.watch(document_id) as changed:
        while True:
            # Cleared before reading: a change committed meanwhile sets it again.
            changed.clear()
            after = await send_after(pool, document_id, after, send)
            if waiters.closing:
                return
            try:
                await asyncio.wait_for(changed.wait(), heartbeat_s)
            except TimeoutError:
                await send(HEARTBEAT)
