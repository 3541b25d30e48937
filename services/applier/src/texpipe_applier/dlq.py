"""Operator commands over the dead-letter queues: list them, replay them.

Both go through the service kit's broker edge (no consumer, no FastStream app). Listing takes
messages with ``basic.get`` without acking and gives them all back at the end, so nothing is
consumed. Replaying republishes a copy straight into the work queue (default exchange),
attempt count reset, waits for the broker's confirm, and only then acks the dead letter.
"""

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from aio_pika.abc import AbstractIncomingMessage
from faststream.rabbit import RabbitBroker
from texpipe_contracts import topology
from texpipe_contracts.topology import QueueSpec, Topology
from texpipe_servicekit.rabbit import JSON, new_publisher, publish_confirmed, rabbit_queue

from texpipe_applier.dead_letters import describe
from texpipe_applier.errors import DlqMessageNotFoundError
from texpipe_applier.received import Received, received_from

DEFAULT_LIST_LIMIT = 1000
_DEAD_LETTER_HEADERS = (
    topology.HEADER_REASON,
    topology.HEADER_ERROR_CODE,
    topology.HEADER_DEAD_AT,
    topology.HEADER_SOURCE_QUEUE,
)


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """One dead letter as an operator sees it."""

    id: str
    queue: str
    job_id: str
    reason: str
    code: str
    attempts: int
    dead_at: datetime | None
    replays: int


def message_key(message: Received) -> str:
    """The id to name a dead letter by: its message id, else a digest of its body."""
    if message.message_id:
        return message.message_id
    return "sha256:" + hashlib.sha256(message.body).hexdigest()[:16]


def entry_for(message: Received, queue: str, topo: Topology) -> DlqEntry:
    """Describe one dead letter."""
    info = describe(message, topo)
    return DlqEntry(
        id=message_key(message),
        queue=queue,
        job_id=str(info.job_id) if info.job_id else "-",
        reason=info.reason,
        code=info.code,
        attempts=info.attempts,
        dead_at=info.dead_at,
        replays=_replays(message),
    )


def _replays(message: Received) -> int:
    value = message.headers.get(topology.HEADER_REPLAYS)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def replay_headers(message: Received) -> dict[str, object]:
    """Headers of a replayed copy: no dead-letter history, attempt 0, one more replay."""
    headers = message.republish_headers(
        **{topology.HEADER_ATTEMPT: 0, topology.HEADER_REPLAYS: _replays(message) + 1}
    )
    return {k: v for k, v in headers.items() if k not in _DEAD_LETTER_HEADERS}


@asynccontextmanager
async def _connected(amqp_url: str) -> AsyncIterator[RabbitBroker]:
    broker = new_publisher(amqp_url, service="texpipe-applier-dlq")
    await broker.connect()
    try:
        yield broker
    finally:
        await broker.stop()


async def _held_messages(
    broker: RabbitBroker, spec: QueueSpec, limit: int
) -> AsyncIterator[AbstractIncomingMessage]:
    """Up to ``limit`` messages of the queue, each held unacked (the caller acks or not)."""
    queue = await broker.declare_queue(rabbit_queue(spec))
    count = queue.declaration_result.message_count or 0
    # Bounded by the count at the start: a replayed message that fails again at once and
    # comes back is not replayed twice in one run.
    for _ in range(min(count, limit)):
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            return
        yield message


async def list_dead_letters(
    amqp_url: str, topo: Topology, limit: int = DEFAULT_LIST_LIMIT
) -> list[DlqEntry]:
    """The dead letters of both DLQs (up to ``limit`` each), none consumed."""
    entries: list[DlqEntry] = []
    async with _connected(amqp_url) as broker:
        for spec in topo.dead_letter_queues:
            held: list[AbstractIncomingMessage] = []
            async for message in _held_messages(broker, spec, limit):
                held.append(message)
                entries.append(entry_for(received_from(message), spec.name, topo))
            if held:
                # Give everything back at once; until now no message was offered twice.
                await held[-1].nack(multiple=True, requeue=True)
    return entries


async def replay(
    amqp_url: str, topo: Topology, message_id: str | None, limit: int = DEFAULT_LIST_LIMIT
) -> list[DlqEntry]:
    """Re-drive the dead letter named ``message_id`` (or every one when None)."""
    replayed: list[DlqEntry] = []
    async with _connected(amqp_url) as broker:
        for spec in topo.dead_letter_queues:
            work_queue = topo.work_queue_for_dlq(spec.name).name
            held: list[AbstractIncomingMessage] = []
            async for message in _held_messages(broker, spec, limit):
                received = received_from(message)
                if message_id is not None and message_key(received) != message_id:
                    held.append(message)
                    continue
                await publish_confirmed(
                    broker,
                    received.body,
                    queue=work_queue,
                    headers=replay_headers(received),
                    message_id=received.message_id,
                    correlation_id=received.correlation_id,
                    timestamp=received.timestamp,
                    content_type=message.content_type or JSON,
                )
                await message.ack()
                replayed.append(entry_for(received, spec.name, topo))
                if message_id is not None:
                    break
            for message in held:
                await message.nack(requeue=True)
            if message_id is not None and replayed:
                break
    if message_id is not None and not replayed:
        raise DlqMessageNotFoundError(f"no dead letter with id {message_id!r}")
    return replayed
