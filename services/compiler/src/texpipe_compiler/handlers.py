"""The compiler's subscribers: compile requests from ``latex.compile``, and cancels on a
queue of this process's own."""

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitQueue, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from texpipe_contracts.topology import COMPILE_CANCEL_REQUESTED_V1, Topology
from texpipe_servicekit.rabbit import rabbit_exchange, rabbit_queue, raw_body

from texpipe_compiler.deps import CompileConsumerDep

CANCEL_PREFETCH = 100
"""Cancels are handled at once, in memory: a window keeps them flowing."""


def build_router(topology: Topology, concurrency: int, instance: str) -> RabbitRouter:
    """A router consuming ``topology``'s compile queue, ``concurrency`` messages at once, and
    the cancel broadcast on the queue of the compiler process ``instance``."""
    router = RabbitRouter()

    # MANUAL: ack only once the result is confirmed by the broker (or the dead letter is);
    # a compiler that dies before that leaves the request to be redelivered.
    @router.subscriber(
        rabbit_queue(topology.compile_queue),
        ack_policy=AckPolicy.MANUAL,
        channel=Channel(prefetch_count=concurrency),
        decoder=raw_body,
    )
    async def on_compile_requested(msg: RabbitMessage, consumer: CompileConsumerDep) -> None:
        """Compile one revision (latex.compile.requested) and publish latex.compile.completed."""
        await consumer.handle(msg)

    # ACK: a cancel is acted on in memory at once; losing one (this process dies) costs only
    # a compile whose result the api refuses. Exclusive and auto-delete: the queue lives and
    # dies with this process, so every compiler hears every cancel.
    @router.subscriber(
        RabbitQueue(
            topology.cancel_queue_name(instance),
            exclusive=True,
            auto_delete=True,
            routing_key=COMPILE_CANCEL_REQUESTED_V1,
        ),
        exchange=rabbit_exchange(topology.exchange),
        ack_policy=AckPolicy.ACK,
        channel=Channel(prefetch_count=CANCEL_PREFETCH),
        decoder=raw_body,
    )
    async def on_cancel_requested(msg: RabbitMessage, consumer: CompileConsumerDep) -> None:
        """Stop or skip a cancelled job's compile (latex.compile.cancel_requested)."""
        consumer.on_cancel(msg.body)

    return router
