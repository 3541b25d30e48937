"""What happens to one message of the compile queue, from delivery to ack.

Every delivery ends acked or rejected, never left unsettled (an unsettled one would hold a
prefetch slot until the broker's ack timeout):

- a body that is not a compile request this compiler knows is dead-lettered at once with
  the reason, then acked;
- a request is compiled, its result published, and the request acked once the broker
  confirmed the result (a returned, unroutable publish is no confirm);
- anything else (S3, the sandbox, the broker, or the message's deadline passing) gives the
  message back after a pause: reject with requeue, which the queue's delivery limit bounds.
"""

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from texpipe_contracts.decoding import UndecodableMessageError, decode_message
from texpipe_contracts.topology import COMPILE_COMPLETED_V1, Topology
from texpipe_contracts.v1 import CompileCompleted, CompileRequested
from texpipe_servicekit.rabbit import (
    UnroutableError,
    dead_letter,
    is_confirmed,
    message_headers,
    rabbit_exchange,
)

from texpipe_compiler import metrics
from texpipe_compiler.compile_manager import CompileManager

FAILURE_PAUSE_S = 1.0
"""Pause before giving a message back after a dependency failed, so it cannot spin."""

log = structlog.get_logger(__name__)


def _attempt(headers: dict[str, Any]) -> int:
    """1 on the first delivery; quorum queues count redeliveries in x-delivery-count."""
    count = headers.get("x-delivery-count", 0)
    return (count if isinstance(count, int) else 0) + 1


class CompileConsumer:
    """Handles compile-queue messages, each within ``deadline_s`` of its delivery."""

    def __init__(
        self, broker: RabbitBroker, topology: Topology, manager: CompileManager, deadline_s: float
    ) -> None:
        self._broker, self._topology = broker, topology
        self._manager, self._deadline_s = manager, deadline_s

    async def handle(self, msg: RabbitMessage) -> None:
        """Decode, compile, publish, ack (or dead-letter, or give back)."""
        headers = message_headers(msg)
        with structlog.contextvars.bound_contextvars(message_id=msg.message_id):
            try:
                request = decode_message(msg.body, CompileRequested)
            except UndecodableMessageError as exc:
                await self._settle(msg, headers, partial(self._dead_letter, msg, headers, exc))
                return
            with (
                structlog.contextvars.bound_contextvars(job_id=str(request.job_id)),
                metrics.IN_FLIGHT.track_inprogress(),
            ):
                await self._settle(msg, headers, partial(self._compile, request))

    async def _settle(
        self, msg: RabbitMessage, headers: dict[str, Any], work: Callable[[], Awaitable[None]]
    ) -> None:
        """Ack once ``work`` is done; give the message back if it fails or overruns."""
        deadline = asyncio.timeout(self._deadline_s)
        try:
            async with deadline:
                await work()
        except Exception:
            if deadline.expired():
                # No result was confirmed in time: another delivery will try again.
                log.error(
                    "message_deadline_passed",
                    deadline_s=self._deadline_s,
                    attempt=_attempt(headers),
                )
            else:
                log.exception("message_not_handled", attempt=_attempt(headers))
            await asyncio.sleep(FAILURE_PAUSE_S)
            await msg.reject(requeue=True)
            return
        await msg.ack()

    async def _dead_letter(
        self, msg: RabbitMessage, headers: dict[str, Any], exc: UndecodableMessageError
    ) -> None:
        await dead_letter(
            self._broker, self._topology,
            body=msg.body, headers=headers, source_queue=self._topology.compile_queue,
            reason=exc.reason, code=exc.code.value, attempts=_attempt(headers),
            correlation_id=msg.correlation_id, message_id=msg.message_id,
        )  # fmt: skip

    async def _compile(self, request: CompileRequested) -> None:
        await self._publish(await self._manager.compile(request))

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
        if not is_confirmed(confirmed):
            # A returned publish (no queue bound) resolves like a confirm: it is not one.
            raise UnroutableError(f"the result of job {result.job_id} was not confirmed")
        log.info("result_published", outcome=result.outcome.value, cache_hit=result.cache_hit)
