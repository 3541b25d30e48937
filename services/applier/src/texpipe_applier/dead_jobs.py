"""Telling the api that a job is dead because its message reached a dead-letter queue.

Every dead letter of both work queues also lands in ``latex.dead-jobs`` (topology), whoever
wrote it: the broker at a delivery limit, or a service with a reason. Each one becomes a
``POST /internal/v1/jobs/{id}/dead``, so that no accepted job stays ``queued`` forever. While
the api does not take a notice, the notice is held and the consumer paused (an outage).
"""

from typing import Protocol
from uuid import UUID

import structlog
from texpipe_contracts.decoding import UndecodableMessageError, decode_one_of
from texpipe_contracts.internal_api import MarkDead
from texpipe_contracts.topology import Topology
from texpipe_contracts.v1 import CompileStarted
from texpipe_servicekit.gate import OutageError

from texpipe_applier import metrics
from texpipe_applier.answers import Action, Answer, Verdict
from texpipe_applier.dead_letters import describe
from texpipe_applier.delivery import API
from texpipe_applier.received import Received

_SETUP_ERRORS = frozenset({Answer.UNAUTHORIZED, Answer.FORBIDDEN})

log = structlog.get_logger(__name__)


class DeadJobApi(Protocol):
    """The api's ``/dead`` endpoint (``ApiClient`` in production)."""

    async def mark_dead(self, job_id: UUID, notice: MarkDead) -> Verdict:
        """Mark one job dead and classify the answer."""
        ...


class DeadJobReporter:
    """Reports one dead letter; raises OutageError while the api does not take it."""

    def __init__(self, api: DeadJobApi, topo: Topology) -> None:
        self._api = api
        self._dlq_of = {
            topo.compile_queue.name: topo.compile_dlq.name,
            topo.apply_queue.name: topo.apply_dlq.name,
        }
        self._topo = topo

    async def handle(self, message: Received) -> None:
        """Tell the api; return once it answered for good (then ack). A start notice
        (``compile.started.v1``) that reached a dead-letter queue (the broker's delivery limit)
        says nothing about its job, which is compiling: it is dropped, never reported dead."""
        if _is_start_notice(message.body):
            log.warning("dead_start_notice_dropped", message_id=message.message_id)
            metrics.DEAD_JOBS.labels(queue=self._topo.apply_dlq.name, answer="start_notice").inc()
            return
        info = describe(message, self._topo)
        queue = self._dlq_of.get(info.source_queue, info.source_queue)
        with structlog.contextvars.bound_contextvars(
            job_id=str(info.job_id) if info.job_id else None, message_id=message.message_id
        ):
            if info.job_id is None:
                log.error("dead_letter_without_job_id", source_queue=info.source_queue)
                metrics.DEAD_JOBS.labels(queue=queue, answer="no_job_id").inc()
                return
            notice = MarkDead(reason=info.reason, attempts=info.attempts, queue=queue)
            verdict = await self._api.mark_dead(info.job_id, notice)
            metrics.DEAD_JOBS.labels(queue=queue, answer=verdict.answer.value).inc()
            if verdict.action is Action.ACK:
                level = log.info if verdict.code == "" else log.warning
                level("dead_letter_reported", queue=queue, reason=info.reason, api=verdict.reason)
                return
            # A refused token is a setup error someone must fix: say so loudly.
            level = log.error if verdict.answer in _SETUP_ERRORS else log.warning
            level("mark_dead_postponed", reason=verdict.reason)
            raise OutageError(API, verdict.reason)


def _is_start_notice(body: bytes) -> bool:
    """Whether a dead letter's body is a ``compile.started.v1`` notice (by its schema name:
    after a trip through a retry queue the routing key no longer says)."""
    try:
        decode_one_of(body, CompileStarted)
    except UndecodableMessageError:
        return False
    return True
