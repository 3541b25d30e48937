"""Group concurrent compile requests into one INSERT: one round trip and one commit for all.

Under load many requests arrive in the same turn of the event loop; each would otherwise pay
its own statement, its own commit (a WAL flush) and its own socket write. A request joins the
open batch; the batch is flushed on the next turn of the loop (so an idle api adds no delay)
or as soon as it is full. Each request still gets its own job, and its 202 is sent only after
the batch committed, so "accepted" still means "durably queued".
"""

import asyncio
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import asyncpg

from texpipe_api import metrics
from texpipe_api.db import job_queries


@dataclass(slots=True)
class _Batch:
    job_ids: list[UUID] = field(default_factory=list)
    message_ids: list[UUID] = field(default_factory=list)
    document_ids: list[UUID] = field(default_factory=list)
    tenant_ids: list[UUID] = field(default_factory=list)
    waiters: list["asyncio.Future[asyncpg.Record | None]"] = field(default_factory=list)


class CompileBatcher:
    """Collects compile submissions and inserts them together."""

    def __init__(self, pool: asyncpg.Pool, *, timeout_ms: int, max_batch: int = 200) -> None:
        self._pool = pool
        self._timeout_ms = timeout_ms
        self._max_batch = max_batch
        self._batch: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, document_id: UUID, tenant_id: UUID) -> asyncpg.Record | None:
        """The new job's row, or None when the document is not the tenant's."""
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            loop.call_soon(self._flush, batch)
        future: asyncio.Future[asyncpg.Record | None] = loop.create_future()
        batch.job_ids.append(uuid4())
        batch.message_ids.append(uuid4())
        batch.document_ids.append(document_id)
        batch.tenant_ids.append(tenant_id)
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
                rows = await job_queries.insert_jobs_with_outbox(
                    conn,
                    job_ids=batch.job_ids,
                    message_ids=batch.message_ids,
                    document_ids=batch.document_ids,
                    tenant_ids=batch.tenant_ids,
                    timeout_ms=self._timeout_ms,
                )
        except BaseException as exc:
            for waiter in batch.waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        metrics.JOBS_SUBMITTED.inc(sum(row["id"] == row["request_id"] for row in rows))
        by_id = {row["request_id"]: row for row in rows}
        for job_id, waiter in zip(batch.job_ids, batch.waiters, strict=True):
            if not waiter.done():
                waiter.set_result(by_id.get(job_id))

    async def close(self) -> None:
        """Wait for the batches in flight (their requests are still waiting for the answer)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
