"""Group concurrent compile requests into one statement: one round trip and one commit for all.

Under load many requests arrive in the same turn of the event loop; each would otherwise pay
its own statement, its own commit (a WAL flush) and its own socket write. A request joins the
open batch; the batch is flushed on the next turn of the loop (so an idle api adds no delay)
or as soon as it is full. Keyed and unkeyed requests share batches: the statement
(``enqueue.enqueue``) applies the reuse rule to each request, and requests of one document in
one batch share its new job. Each 202 is sent only after the batch committed, so "accepted"
still means "durably queued".
"""

import asyncio
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import asyncpg

from texpipe_api.enqueue import CompileRequest, enqueue


@dataclass(slots=True)
class _Batch:
    requests: list[CompileRequest] = field(default_factory=list)
    waiters: list["asyncio.Future[asyncpg.Record | None]"] = field(default_factory=list)


class CompileBatcher:
    """Collects compile submissions and enqueues them together."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_ms: int, max_batch: int = 200) -> None:
        self._pool = pool
        self._timeout_ms = timeout_ms
        self._max_batch = max_batch
        self._batch: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(
        self, document_id: UUID, tenant_id: UUID, key: str | None
    ) -> asyncpg.Record | None:
        """The request's answer row (``enqueue_queries.enqueue``), or None when the document
        is not the tenant's."""
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            loop.call_soon(self._flush, batch)
        future: asyncio.Future[asyncpg.Record | None] = loop.create_future()
        batch.requests.append(CompileRequest(uuid4(), uuid4(), document_id, tenant_id, key))
        batch.waiters.append(future)
        if len(batch.waiters) >= self._max_batch:
            self._flush(batch)
        return await future

    def _flush(self, batch: _Batch) -> None:
        if self._batch is not batch:
            return  # already flushed because it was full
        self._batch = None
        task = asyncio.create_task(self._insert(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _insert(self, batch: _Batch) -> None:
        try:
            async with self._pool.acquire() as conn:
                rows = await enqueue(conn, batch.requests, timeout_ms=self._timeout_ms)
        except BaseException as exc:
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        by_id = {row["request_id"]: row for row in rows}
        for request, waiter in zip(batch.requests, batch.waiters, strict=True):
            if not waiter.done():
                waiter.set_result(by_id.get(request.job_id))

    async def close(self) -> None:
        """Wait for the batches in flight (their requests are still waiting for the answer)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
