"""The two subscribers: results from ``latex.apply``, dead letters from ``latex.dead-jobs``."""

import asyncio

import structlog
from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from texpipe_contracts.topology import Topology
from texpipe_servicekit.rabbit import rabbit_queue, raw_body

from texpipe_applier.deps import DeliveryDep, RedeliveryDep, ReporterDep
from texpipe_applier.received import received_from

FAILURE_PAUSE_S = 1.0
"""Pause before giving a message back after an unexpected failure, so it cannot spin."""
DEAD_JOBS_PREFETCH = 4

log = structlog.get_logger(__name__)


def build_router(topo: Topology, apply_prefetch: int) -> RabbitRouter:
    """Subscribers for ``topo``'s queues (names depend on the namespace)."""
    router = RabbitRouter()

    # MANUAL: ack only once the result is applied, or its retry / dead letter is confirmed.
    @router.subscriber(
        rabbit_queue(topo.apply_queue),
        ack_policy=AckPolicy.MANUAL,
        channel=Channel(prefetch_count=apply_prefetch),
        decoder=raw_body,
    )
    async def on_compile_completed(msg: RabbitMessage, delivery: DeliveryDep) -> None:
        """Deliver a compile result (latex.compile.completed) to the api's result endpoint."""
        received = received_from(msg.raw_message)
        try:
            await delivery.handle(received)
        except Exception:
            # Nothing was decided (the broker is unwell, or a bug): give the message back.
            # reject, not nack, so that the queue's delivery limit bounds a crash loop.
            log.exception("result_handling_failed", message_id=received.message_id)
            await asyncio.sleep(FAILURE_PAUSE_S)
            await msg.reject(requeue=True)
            return
        await msg.ack()

    # MANUAL: a notice is acked once the api answered it, or once a copy is re-queued.
    @router.subscriber(
        rabbit_queue(topo.dead_jobs_queue),
        ack_policy=AckPolicy.MANUAL,
        channel=Channel(prefetch_count=DEAD_JOBS_PREFETCH),
        decoder=raw_body,
    )
    async def on_dead_letter(
        msg: RabbitMessage, reporter: ReporterDep, redelivery: RedeliveryDep
    ) -> None:
        """Mark the job of a dead-lettered message (compile or apply) dead at the api."""
        received = received_from(msg.raw_message)
        try:
            if not await reporter.handle(received):
                await redelivery.requeue_notice(received, reporter.source_queue(received))
        except Exception:
            log.exception("dead_letter_handling_failed", message_id=received.message_id)
            await asyncio.sleep(FAILURE_PAUSE_S)
            await msg.nack(requeue=True)
            return
        await msg.ack()

    return router
