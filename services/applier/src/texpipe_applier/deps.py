"""Handler parameters supplied from the FastStream context (set in the app's lifespan)."""

from typing import Annotated

from faststream import Context

from texpipe_applier.dead_jobs import DeadJobReporter
from texpipe_applier.delivery import ResultDelivery
from texpipe_applier.redelivery import RabbitRedelivery

DELIVERY = "result_delivery"
REPORTER = "dead_job_reporter"
REDELIVERY = "redelivery"

DeliveryDep = Annotated[ResultDelivery, Context(DELIVERY)]
ReporterDep = Annotated[DeadJobReporter, Context(REPORTER)]
RedeliveryDep = Annotated[RabbitRedelivery, Context(REDELIVERY)]
