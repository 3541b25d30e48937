"""In-memory stand-ins for pure-logic tests of the broker edge (never for broker behaviour:
acks, dead-lettering and delivery limits are tested on the real broker)."""

from types import SimpleNamespace
from typing import Any


class FakeMessage:
    """What a consumer reads of a delivery (body, ids, headers, its channel's state), and what
    it was settled with: ``settled`` lists ``"ack"`` and ``"reject(requeue=...)"`` in order."""

    def __init__(self, body: bytes = b"{}", headers: dict[str, Any] | None = None) -> None:
        self.body, self.message_id, self.correlation_id = body, "m-1", "c-1"
        self.content_type = "application/json"
        self.channel = SimpleNamespace(is_closed=False)
        self.raw_message = SimpleNamespace(headers=headers or {}, channel=self.channel)
        self.settled: list[str] = []

    async def ack(self) -> None:
        """Record an ack."""
        self.settled.append("ack")

    async def reject(self, requeue: bool = False) -> None:
        """Record a reject."""
        self.settled.append(f"reject(requeue={requeue})")
