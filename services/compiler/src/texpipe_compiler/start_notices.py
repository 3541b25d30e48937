"""Tell whoever listens that a sandboxed compile began: ``latex.compile.started.v1``.

Best effort by design: the notice is published in a background task, so the compile never
waits for the broker; a failure (broker down, no confirm within the broker edge's timeout,
unroutable) is logged as ``compile_started_not_published`` and dropped. The job's result is
what matters; the notice only lets the document's event stream show ``compiling``.
"""

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog
from faststream.rabbit import RabbitBroker
from texpipe_contracts.topology import COMPILE_STARTED_V1, Topology
from texpipe_contracts.v1 import CompileRequested, CompileStarted
from texpipe_servicekit.rabbit import publish_confirmed

log = structlog.get_logger(__name__)

CLOSE_GRACE_S = 2.0
"""How long shutdown waits for notices still in flight before cancelling them."""


class StartNotices:
    """Publishes one ``CompileStarted`` per :meth:`notify`, never blocking the caller."""

    def __init__(self, broker: RabbitBroker, topology: Topology, instance: str) -> None:
        """``instance``: this compiler process's name, carried in each notice."""
        self._broker, self._topology, self._instance = broker, topology, instance
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, request: CompileRequested) -> None:
        """Publish that ``request``'s compile starts now, in the background."""
        notice = CompileStarted(
            job_id=request.job_id,
            document_id=request.document_id,
            revision=request.revision,
            started_at=datetime.now(UTC),
            compiler=self._instance,
        )
        task = asyncio.create_task(self._publish(notice))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, notice: CompileStarted) -> None:
        try:
            await publish_confirmed(
                self._broker,
                notice.model_dump_json().encode(),
                exchange=self._topology.exchange,
                routing_key=COMPILE_STARTED_V1,
                correlation_id=notice.correlation_id,
                message_id=str(notice.message_id),
            )
        except Exception as exc:  # best effort: any failure only loses a progress signal
            log.warning("compile_started_not_published", error=repr(exc))

    async def aclose(self) -> None:
        """Give notices in flight ``CLOSE_GRACE_S`` to go out, then cancel the rest."""
        pending = set(self._tasks)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=CLOSE_GRACE_S)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task
