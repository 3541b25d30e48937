"""What happens to one message of the compile queue, from delivery to ack.

A message that is not a compile request is dead-lettered at once with the reason, then
acked. A request is compiled; its result is published with a confirm, and only then is the
request acked. A broken dependency (S3, the sandbox) gives the message back (reject with
requeue): the queue's delivery limit bounds how often.
"""

import asyncio
from typing import Any

import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from texpipe_contracts.topology import COMPILE_COMPLETED_V1, Topology
from texpipe_contracts.v1 import CompileCompleted
from texpipe_servicekit.rabbit import (
    UnroutableError,
    dead_letter,
    message_headers,
    rabbit_exchange,
)
from texpipe_servicekit.shutdown import InFlight

from texpipe_compiler import metrics
from texpipe_compiler.compile_manager import CompileManager
from texpipe_compiler.decode import UndecodableError, decode_request

FAILURE_PAUSE_S = 1.0
"""Pause before giving a message back after a dependency failed, so it cannot spin."""

log = structlog.get_logger(__name__)


def _attempt(headers: dict[str, Any]) -> int:
    """1 on the first delivery; quorum queues count redeliveries in x-delivery-count."""
    count = headers.get("x-delivery-count", 0)
    return (count if isinstance(count, int) else 0) + 1


class CompileConsumer:
    """Handles compile-queue messages."""

    def __init__(
        self, broker: RabbitBroker, topology: Topology, manager: CompileManager, in_flight: InFlight
    ) -> None:
        self._broker, self._topology = broker, topology
        self._manager, self.in_flight = manager, in_flight

    async def handle(self, msg: RabbitMessage) -> None:
        """Decode, compile, publish, ack (or dead-letter, or give back)."""
        headers = message_headers(msg)
        with structlog.contextvars.bound_contextvars(message_id=msg.message_id):
            try:
                request = decode_request(msg.body)
            except UndecodableError as exc:
                await dead_letter(
                    self._broker, self._topology,
                    body=msg.body, headers=headers, source_queue=self._topology.compile_queue,
                    reason=exc.reason, code=exc.code, attempts=_attempt(headers),
                    correlation_id=msg.correlation_id, message_id=msg.message_id,
                )  # fmt: skip
                await msg.ack()
                return
            with (
                structlog.contextvars.bound_contextvars(job_id=str(request.job_id)),
                self.in_flight,
                metrics.IN_FLIGHT.track_inprogress(),
            ):
                try:
                    result = await self._manager.compile(request)
                    await self._publish(result)
                except Exception:
                    log.exception("compile_not_finished", attempt=_attempt(headers))
                    await asyncio.sleep(FAILURE_PAUSE_S)
                    await msg.reject(requeue=True)
                    return
            await msg.ack()

    async def _publish(self, result: CompileCompleted) -> None:
        confirmed = await self._broker.publish(
            result.model_dump_json().encode(),
            exchange=rabbit_exchange(self._topology.exchange),
            routing_key=COMPILE_COMPLETED_V1,
            correlation_id=result.correlation_id,
            message_id=str(result.message_id),
            content_type="application/json",
            persist=True,
            mandatory=True,
        )
        if confirmed is None or getattr(confirmed, "name", "Basic.Ack") != "Basic.Ack":
            raise UnroutableError(f"result of job {result.job_id} was not confirmed")
        log.info("result_published", outcome=result.outcome.value, cache_hit=result.cache_hit)
