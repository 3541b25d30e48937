"""The parts of a received AMQP message the applier reads, apart from the client library."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from aio_pika.abc import AbstractIncomingMessage
from texpipe_contracts import topology
from texpipe_servicekit.rabbit import without_broker_history


@dataclass(frozen=True, slots=True)
class Received:
    """One message as delivered: body, headers and the properties texpipe uses."""

    body: bytes
    headers: Mapping[str, object]
    routing_key: str = ""
    message_id: str | None = None
    correlation_id: str | None = None
    timestamp: datetime | None = None

    @property
    def attempt(self) -> int:
        """How many times the applier already tried this result (0 when never)."""
        value = self.headers.get(topology.HEADER_ATTEMPT)
        if isinstance(value, bool) or not isinstance(value, int | str | bytes):
            return 0
        try:
            return max(int(value), 0)
        except ValueError:
            return 0

    def republish_headers(self, **overrides: object) -> dict[str, object]:
        """The headers to carry onto a republished copy, broker history removed."""
        return {**without_broker_history(self.headers), **overrides}


def received_from(message: AbstractIncomingMessage) -> Received:
    """Read an aio-pika message (FastStream's ``RabbitMessage.raw_message`` is one)."""
    return Received(
        body=message.body,
        headers=dict(message.headers or {}),
        routing_key=message.routing_key or "",
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        timestamp=message.timestamp,
    )
