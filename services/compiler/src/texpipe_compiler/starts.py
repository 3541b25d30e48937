"""Counting the compiler's own deaths per request, where a restarted compiler sees them.

A compile request whose delivery ends without an ack is given back by the broker, and
RabbitMQ counts that the same whether the compiler died on it (poison) or its connection
dropped (an outage). So the compiler keeps its own count: before compiling a job it writes a
start marker ``compiler/starts/<job id>/<instance>`` to S3 (``instance`` names this process,
random at start-up) just before TeX runs, and a finished compile deletes every marker of the
job. Markers of other
instances that are still there when a job starts are starts that never finished: their
process died. Within one process a job is compiled at most once at a time (a redelivery joins
the compile in flight, :mod:`texpipe_compiler.consumer`), so a live process never counts
itself; two live replicas compiling the same job at once (after one lost its connection) count
each other, which the limit's margin absorbs.
"""

import uuid
from uuid import UUID

from texpipe_servicekit.s3 import S3Store

PREFIX = "compiler/starts/"
"""The compiler's own prefix in the bucket (nothing else reads or writes under it)."""
MARKER_TYPE = "text/plain; charset=utf-8"


class StartLedger:
    """Start markers of one compiler process."""

    def __init__(self, store: S3Store, instance: str | None = None) -> None:
        self._store = store
        self.instance = instance or uuid.uuid4().hex

    def _prefix(self, job_id: UUID) -> str:
        return f"{PREFIX}{job_id}/"

    async def unfinished(self, job_id: UUID) -> int:
        """How many starts of ``job_id`` by other processes never finished (their process
        died). Raises the S3 client's errors."""
        prefix = self._prefix(job_id)
        return sum(1 for key in await self._store.keys(prefix) if key != prefix + self.instance)

    async def mark(self, job_id: UUID) -> None:
        """This process starts compiling ``job_id`` now."""
        await self._store.put(self._prefix(job_id) + self.instance, b"", content_type=MARKER_TYPE)

    async def finish(self, job_id: UUID) -> None:
        """The job's compile finished (or it was dead-lettered): forget all its starts."""
        await self._store.delete(await self._store.keys(self._prefix(job_id)))
