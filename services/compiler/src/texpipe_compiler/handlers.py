"""The compiler's one subscriber: compile requests from ``latex.compile``."""

from faststream import AckPolicy
from faststream.rabbit import Channel, RabbitRouter
from faststream.rabbit.annotations import RabbitMessage
from texpipe_contracts.topology import Topology
from texpipe_servicekit.rabbit import rabbit_queue, raw_body

from texpipe_compiler.deps import CompileConsumerDep


def build_router(topology: Topology, concurrency: int) -> RabbitRouter:
    """A router consuming ``topology``'s compile queue, ``concurrency`` messages at once."""
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

    return router
