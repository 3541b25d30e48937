"""The two subscribers: results from ``latex.apply``, dead letters from ``latex.dead-jobs``.

Both settle their deliveries by the service kit's one policy (``texpipe_servicekit.rabbit``):
ack once done, hold while the api or the broker is down, reject a delivery whose handling
failed unexpectedly (bounded by the queue's delivery limit).
"""

from functools import partial

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from texpipe_contracts.topology import Topology
from texpipe_servicekit.rabbit import rabbit_queue, raw_body

from texpipe_applier.deps import DeliveryDep, ReporterDep, SettleDep
from texpipe_applier.received import received_from

DEAD_JOBS_PREFETCH = 4


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
    async def on_compile_completed(
        msg: RabbitMessage, delivery: DeliveryDep, settle: SettleDep
    ) -> None:
        """Deliver a compile result (latex.compile.completed) to the api's result endpoint."""
        work = partial(delivery.handle, received_from(msg.raw_message))
        await settle(msg, work, topo.apply_queue.name)

    # MANUAL: a notice is acked once the api answered it for good.
    @router.subscriber(
        rabbit_queue(topo.dead_jobs_queue),
        ack_policy=AckPolicy.MANUAL,
        channel=Channel(prefetch_count=DEAD_JOBS_PREFETCH),
        decoder=raw_body,
    )
    async def on_dead_letter(msg: RabbitMessage, reporter: ReporterDep, settle: SettleDep) -> None:
        """Mark the job of a dead-lettered message (compile or apply) dead at the api."""
        work = partial(reporter.handle, received_from(msg.raw_message))
        await settle(msg, work, topo.dead_jobs_queue.name)

    return router
