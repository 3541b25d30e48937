"""Handler parameters supplied from the FastStream context (set in the app's lifespan)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from faststream import Context
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from texpipe_servicekit.gate import DependencyGate
from texpipe_servicekit.rabbit import settle

from texpipe_applier.dead_jobs import DeadJobReporter
from texpipe_applier.delivery import ResultDelivery

DELIVERY = "result_delivery"
REPORTER = "dead_job_reporter"
SETTLER = "settler"


@dataclass(frozen=True, slots=True)
class Settler:
    """The kit's settle policy bound to the applier's broker and gate."""

    broker: RabbitBroker
    gate: DependencyGate

    async def __call__(
        self, msg: RabbitMessage, work: Callable[[], Awaitable[Any]], queue: str
    ) -> None:
        """Run ``work`` for one delivery of ``queue`` and settle it."""

        async def done() -> None:
            await work()

        await settle(self.broker, msg, done, gate=self.gate, queue=queue)


DeliveryDep = Annotated[ResultDelivery, Context(DELIVERY)]
ReporterDep = Annotated[DeadJobReporter, Context(REPORTER)]
SettleDep = Annotated[Settler, Context(SETTLER)]
