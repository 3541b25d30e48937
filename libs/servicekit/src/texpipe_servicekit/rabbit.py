"""The broker edge: every texpipe service talks to RabbitMQ through this module.

Publishing (confirmed and routed, or an error), declaring the topology, reading a delivery's
history, and settling deliveries. **The settle policy, the one place it is written down**
(:func:`settle` applies it; docs/architecture.md explains why):

- the work finished (its output confirmed by the broker): **ack**;
- the work found the message itself bad (undecodable, refused for good, crash-looping):
  **dead-letter** it with the reason (:func:`dead_letter`, confirmed), then ack;
- the work failed because a dependency is down (it raised
  :class:`~texpipe_servicekit.gate.OutageError`): **hold** the delivery unacked while the
  consumer's gate is closed, then run the work again in place; held past ``hold_limit_s``,
  or while the service stops, **give it back** (:func:`give_back`);
- the work failed for any other reason (a bug): **reject with requeue** after a pause, so that
  the queue's delivery limit bounds a crash loop.

An outage never spends a delivery: holding costs nothing, and :func:`give_back` republishes a
copy at the tail of the queue and acks the original instead of nack/reject, which RabbitMQ 3.10
counts toward a quorum queue's delivery limit (NOTES.md). Only a lost channel (a dropped
connection, a killed process) still counts there, which is why work queues' delivery limits
are a generous backstop and the compiler counts its own crashes.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import structlog
from aio_pika.abc import HeadersType
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.message import RabbitMessage
from pamqp.commands import Basic
from prometheus_client import Counter
from texpipe_contracts import topology as topo
from texpipe_contracts.topology import ExchangeSpec, QueueSpec, Topology

from texpipe_servicekit.gate import DependencyGate, OutageError

if TYPE_CHECKING:
    from faststream.rabbit.schemas.queue import QuorumQueueArgs

log = structlog.get_logger(__name__)

DEAD_LETTERS = Counter(
    "texpipe_dead_letters_total",
    "Messages a texpipe service dead-lettered itself, by source queue and error code.",
    ["queue", "code"],
)
GIVEN_BACK = Counter(
    "texpipe_messages_given_back_total",
    "Deliveries held through an outage longer than the hold limit and republished to their queue.",
    ["queue"],
)

JSON = "application/json"
PUBLISH_TIMEOUT_S = 10.0
"""How long one publish waits for the broker's confirm before it counts as failed."""
FAILURE_PAUSE_S = 1.0
"""Pause before rejecting a delivery whose work failed unexpectedly, so a bug cannot spin."""
HOLD_LIMIT_S = 20 * 60.0
"""Longest a delivery is held through an outage: below RabbitMQ's 30 min consumer ack
timeout, past which the broker would close the channel and count a delivery."""


class UnroutableError(Exception):
    """The broker did not confirm a publish (no queue took it, or it nacked it)."""


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


def new_broker(
    amqp_url: str, *, service: str, graceful_timeout: float, reconnect_s: float = 5.0
) -> RabbitBroker:
    """The broker of a consuming service.

    FastStream's per-message "received/processed" lines go to DEBUG (handlers log what matters),
    and on SIGTERM it stops consuming and lets handlers finish for ``graceful_timeout``; what
    is still unacked then is redelivered when the connection closes.
    """
    return RabbitBroker(
        amqp_url,
        app_id=service,
        logger=logging.getLogger(f"{service}.faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=graceful_timeout,
        reconnect_interval=reconnect_s,
    )


def new_publisher(amqp_url: str, *, service: str) -> RabbitBroker:
    """A broker that only publishes and reads queues (the api's relay, operator commands).

    FastStream's connection is robust: once connected it reconnects by itself.
    """
    return RabbitBroker(
        amqp_url,
        app_id=service,
        logger=logging.getLogger(f"{service}.faststream"),
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
    """Declare every exchange, queue and binding (idempotent; arguments must match).

    ``broker`` must not be one whose subscribers consume these queues: FastStream keeps the
    queues it declared, and a subscriber started later consumes through that same queue
    object, on the declaring channel, without its own ``Channel(prefetch_count=...)`` (tried:
    ten deliveries in flight at once instead of two). Services use :func:`prepare_topology`.
    """
    exchanges = {}
    for spec in topology.exchanges:
        exchanges[spec.name] = await broker.declare_exchange(rabbit_exchange(spec))
    for queue_spec in topology.queues:
        queue = await broker.declare_queue(rabbit_queue(queue_spec))
        for binding in queue_spec.bindings:
            await queue.bind(exchanges[binding.exchange], routing_key=binding.routing_key)


async def prepare_topology(amqp_url: str, topology: Topology, *, service: str) -> None:
    """Declare ``topology`` over a connection of its own, closed afterwards (see
    :func:`declare_topology` for why not over the service's broker)."""
    async with new_publisher(amqp_url, service=f"{service}-declare") as broker:
        await broker.connect()
        await declare_topology(broker, topology)


def message_headers(message: RabbitMessage) -> dict[str, Any]:
    """The AMQP headers of a received message (empty dict when none)."""
    return dict(message.raw_message.headers or {})


def delivery_count(headers: Mapping[str, Any]) -> int:
    """How many times the broker delivered this message before (quorum queues count it in
    ``x-delivery-count``: returns, rejects and lost channels; 0 on a first delivery)."""
    count = headers.get("x-delivery-count", 0)
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def is_settleable(message: RabbitMessage) -> bool:
    """Whether the channel the message came on is still open (else the broker has already
    taken it back, and another delivery of it is on its way)."""
    channel = message.raw_message.channel
    return not getattr(channel, "is_closed", False)


async def publish_confirmed(
    broker: RabbitBroker,
    body: bytes,
    *,
    exchange: ExchangeSpec | None = None,
    queue: str = "",
    routing_key: str = "",
    headers: Mapping[str, Any] | None = None,
    message_id: str | None = None,
    correlation_id: str | None = None,
    expiration: float | None = None,
    timestamp: datetime | None = None,
    message_type: str | None = None,
    content_type: str = JSON,
    mandatory: bool = True,
) -> None:
    """Publish ``body`` persistent and mandatory, to ``exchange`` with ``routing_key`` or to
    ``queue`` through the default exchange; return once the broker confirmed it.

    Raises UnroutableError when the broker returned (no queue bound) or nacked it, and the
    client library's error when the connection is down or no confirm came in
    PUBLISH_TIMEOUT_S seconds. ``mandatory=False`` is for events that whoever listens binds
    a queue for (``document.pdf_applied.v1``, cancels): with nobody bound the broker drops
    them and still confirms.
    """
    frame = await broker.publish(
        body,
        queue=queue,
        exchange=rabbit_exchange(exchange) if exchange is not None else None,
        routing_key=routing_key,
        headers=cast("HeadersType", dict(headers or {})),
        persist=True,
        mandatory=mandatory,
        timeout=PUBLISH_TIMEOUT_S,
        message_id=message_id,
        correlation_id=correlation_id,
        expiration=expiration,
        timestamp=timestamp,
        message_type=message_type,
        content_type=content_type,
    )
    if not is_confirmed(frame):
        # aiormq resolves a returned publish with the returned message: that is no confirm.
        target = exchange.name if exchange is not None else queue
        raise UnroutableError(f"publish to {target!r} ({routing_key}) was not confirmed")


async def give_back(broker: RabbitBroker, message: RabbitMessage, queue: str) -> None:
    """Put ``message`` back at the tail of ``queue`` without spending a delivery: publish a
    copy (same ids, headers, type and timestamp, the broker's delivery count removed),
    confirmed, then ack the original. ``x-death`` stays: a dead-jobs notice is read from it.

    A crash in between leaves two copies, never none: consumers are idempotent by message id.
    """
    headers = {k: v for k, v in message_headers(message).items() if k != "x-delivery-count"}
    await publish_confirmed(
        broker,
        message.body,
        queue=queue,
        headers=headers,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        content_type=message.content_type or JSON,
        timestamp=getattr(message.raw_message, "timestamp", None),
        message_type=getattr(message.raw_message, "type", None),
    )
    await message.ack()
    GIVEN_BACK.labels(queue=queue).inc()


async def settle(
    broker: RabbitBroker,
    message: RabbitMessage,
    work: Callable[[], Awaitable[None]],
    *,
    gate: DependencyGate,
    queue: str,
    hold_limit_s: float = HOLD_LIMIT_S,
) -> None:
    """Run ``work`` for one delivery of ``queue`` and settle it by the policy above.

    ``work`` returns when the delivery is done with (its output confirmed, or the message
    dead-lettered) and raises :class:`OutageError` when a dependency is down; ``work`` runs again
    (so it must be idempotent) once the gate reopens.
    """
    loop = asyncio.get_running_loop()
    held_until = loop.time() + hold_limit_s
    while True:
        try:
            async with asyncio.timeout_at(held_until):
                open_now = await gate.wait_open()
        except TimeoutError:
            log.warning("message_held_too_long", queue=queue, hold_limit_s=hold_limit_s)
            await give_back(broker, message, queue)
            return
        if not open_now and is_settleable(message):
            log.info("held_message_given_back_at_shutdown", queue=queue)
            await give_back(broker, message, queue)
            return
        if not is_settleable(message):
            # The connection dropped while it was held: the broker redelivers it.
            log.info("held_message_returned_by_broker", queue=queue)
            return
        try:
            await work()
        except OutageError as outage:
            gate.trip(outage)
            continue
        except Exception:
            log.exception(
                "message_not_handled",
                queue=queue,
                deliveries=delivery_count(message_headers(message)),
            )
            await asyncio.sleep(FAILURE_PAUSE_S)
            await _settle_on_channel(partial(message.reject, requeue=True), message, queue)
            return
        await _settle_on_channel(message.ack, message, queue)
        return


async def _settle_on_channel(
    settling: Callable[[], Awaitable[None]], message: RabbitMessage, queue: str
) -> None:
    """Ack or reject, unless the delivery's channel is gone: then the broker has taken the
    message back already and redelivers it (consumers are idempotent by message id)."""
    if not is_settleable(message):
        log.info("message_returned_before_settled", queue=queue)
        return
    try:
        await settling()
    except Exception as exc:  # the channel closed just now: the same as above
        log.warning("settle_failed", queue=queue, error=f"{type(exc).__name__}: {exc}"[:300])


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
    await publish_confirmed(
        broker,
        body,
        exchange=topology.dead_letter_exchange,
        routing_key=dead_key,
        headers=new_headers,
        correlation_id=correlation_id,
        message_id=message_id,
    )
    DEAD_LETTERS.labels(queue=source_queue.name, code=code).inc()
    log.error(
        "message_dead_lettered",
        queue=source_queue.name,
        reason=reason,
        code=code,
        attempts=attempts,
        correlation_id=correlation_id,
    )
