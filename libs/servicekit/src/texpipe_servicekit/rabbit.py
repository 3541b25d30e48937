"""FastStream helpers over the topology in contracts: declare it, dead-letter with a reason."""

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import structlog
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from pamqp.commands import Basic
from prometheus_client import Counter
from texpipe_contracts import topology as topo
from texpipe_contracts.topology import ExchangeSpec, QueueSpec, Topology

if TYPE_CHECKING:
    from faststream.rabbit.schemas.queue import QuorumQueueArgs

log = structlog.get_logger(__name__)

DEAD_LETTERS = Counter(
    "texpipe_dead_letters_total",
    "Messages a texpipe service dead-lettered itself, by source queue and error code.",
    ["queue", "code"],
)


class UnroutableError(Exception):
    """The broker did not confirm a publish (no queue took it)."""


BROKER_HEADER_PREFIXES = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")
"""Headers the broker adds while dead-lettering or redelivering."""
BROKER_PING_TIMEOUT_S = 2.0


def without_broker_history(headers: Mapping[str, Any]) -> dict[str, Any]:
    """``headers`` minus the broker's own history, so a republished message starts clean and
    its story is told by the ``x-texpipe-*`` headers texpipe sets."""
    return {k: v for k, v in headers.items() if not k.startswith(BROKER_HEADER_PREFIXES)}


def broker_check(broker: RabbitBroker) -> Callable[[], Awaitable[None]]:
    """A /ready check that fails while the broker connection is down."""

    async def check() -> None:
        if not await broker.ping(timeout=BROKER_PING_TIMEOUT_S):
            raise ConnectionError("the broker connection is down")

    return check


def is_confirmed(frame: object) -> bool:
    """True only for a broker ack: a returned (unroutable) or nacked publish is not one."""
    return isinstance(frame, Basic.Ack)


def new_broker(amqp_url: str, *, service: str, graceful_timeout: float) -> RabbitBroker:
    """The broker of a consuming service.

    FastStream's per-message "received/processed" lines go to DEBUG (handlers log what matters),
    and on SIGTERM it stops consuming and lets handlers finish for ``graceful_timeout``; what
    is still unacked then is redelivered when the connection closes.
    """
    return RabbitBroker(
        amqp_url,
        logger=logging.getLogger(f"{service}.faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout,
    )


async def raw_body(msg: RabbitMessage) -> bytes:
    """A subscriber decoder that leaves the body as bytes for the handler to decode.

    FastStream's default decoder parses a JSON content type before the handler runs; a body
    that is not JSON would fail there, outside the handler, and with manual acks stay unsettled
    (holding a prefetch slot) until the broker's ack timeout instead of being dead-lettered.
    """
    return msg.body


def rabbit_exchange(spec: ExchangeSpec) -> RabbitExchange:
    """The FastStream exchange for ``spec`` (durable)."""
    return RabbitExchange(spec.name, type=ExchangeType(spec.type), durable=True)


def rabbit_queue(spec: QueueSpec) -> RabbitQueue:
    """The FastStream queue for ``spec``: every texpipe queue is a durable quorum queue."""
    if spec.arguments.get("x-queue-type") != "quorum":
        raise ValueError(f"{spec.name}: texpipe declares quorum queues only")
    arguments = {k: v for k, v in spec.arguments.items() if k != "x-queue-type"}
    return RabbitQueue(
        spec.name,
        queue_type=QueueType.QUORUM,
        durable=True,
        arguments=cast("QuorumQueueArgs", arguments),
    )


async def declare_topology(broker: RabbitBroker, topology: Topology) -> None:
    """Declare every exchange, queue and binding (idempotent; arguments must match)."""
    exchanges = {}
    for spec in topology.exchanges:
        exchanges[spec.name] = await broker.declare_exchange(rabbit_exchange(spec))
    for queue_spec in topology.queues:
        queue = await broker.declare_queue(rabbit_queue(queue_spec))
        for binding in queue_spec.bindings:
            await queue.bind(exchanges[binding.exchange], routing_key=binding.routing_key)


def message_headers(message: RabbitMessage) -> dict[str, Any]:
    """The AMQP headers of a received message (empty dict when none)."""
    return dict(message.raw_message.headers or {})


async def dead_letter(
    broker: RabbitBroker,
    topology: Topology,
    *,
    body: bytes,
    headers: Mapping[str, Any],
    source_queue: QueueSpec,
    reason: str,
    code: str,
    attempts: int,
    correlation_id: str | None = None,
    message_id: str | None = None,
) -> None:
    """Put a message into ``source_queue``'s dead-letter path with the reason in its headers.

    Waits for the broker's confirm; the caller acks the original only afterwards, so a crash
    in between yields a duplicate dead letter, never a lost one.
    """
    dead_key = str(source_queue.arguments["x-dead-letter-routing-key"])
    new_headers = {
        **without_broker_history(headers),
        topo.HEADER_REASON: reason[:1000],
        topo.HEADER_ERROR_CODE: code,
        topo.HEADER_ATTEMPT: attempts,
        topo.HEADER_SOURCE_QUEUE: source_queue.name,
        topo.HEADER_DEAD_AT: datetime.now(UTC).isoformat(),
    }
    confirmed = await broker.publish(
        body,
        exchange=rabbit_exchange(topology.dead_letter_exchange),
        routing_key=dead_key,
        headers=new_headers,
        persist=True,
        correlation_id=correlation_id,
        message_id=message_id,
        content_type="application/json",
    )
    if not is_confirmed(confirmed):
        raise UnroutableError(f"dead letter for {source_queue.name} was not confirmed")
    DEAD_LETTERS.labels(queue=source_queue.name, code=code).inc()
    log.error(
        "message_dead_lettered",
        queue=source_queue.name,
        reason=reason,
        code=code,
        attempts=attempts,
        correlation_id=correlation_id,
    )
