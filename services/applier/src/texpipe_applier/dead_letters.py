"""Read a dead letter: which job, why, after how many attempts, from which queue (pure).

A dead letter comes from one of two writers. A texpipe service sets ``x-texpipe-reason``,
``x-texpipe-error-code`` and ``x-texpipe-attempt`` (topology.HEADER_*). The broker (delivery
limit, expiry, overflow) sets only ``x-death``, newest entry first, whose ``reason`` is a word
such as ``delivery_limit``. Either way the routing key is the work queue's name.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from texpipe_contracts import topology
from texpipe_contracts.errors import ErrorCode

from texpipe_applier.received import Received

MAX_REASON_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class DeadLetterInfo:
    """What an operator and the api need to know about one dead letter."""

    job_id: UUID | None
    reason: str
    code: str
    attempts: int
    source_queue: str
    dead_at: datetime | None


def job_id_of(body: bytes, correlation_id: str | None) -> UUID | None:
    """The job id: from the body when it is a texpipe message, else from the correlation id."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    candidates = [data.get("job_id") if isinstance(data, dict) else None, correlation_id]
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                return UUID(candidate)
            except ValueError:
                continue
    return None


def describe(letter: Received, topo: topology.Topology) -> DeadLetterInfo:
    """Read ``letter``; ``topo`` gives each work queue's delivery limit."""
    headers = letter.headers
    death = _latest_death(headers)
    # A service's dead letter names its source in a header; the broker's is keyed by the work
    # queue's name, unless it was given back to the dead-jobs queue during an outage (then its
    # x-death still names the work queue).
    routed = letter.routing_key if letter.routing_key != topo.dead_jobs_queue.name else ""
    source = _text(headers.get(topology.HEADER_SOURCE_QUEUE)) or routed or _text(death.get("queue"))
    reason = _text(headers.get(topology.HEADER_REASON))
    if reason:
        code = _text(headers.get(topology.HEADER_ERROR_CODE)) or ErrorCode.DEAD_LETTERED.value
        attempts = _int(headers.get(topology.HEADER_ATTEMPT)) or 1
    else:
        broker_reason = _text(death.get("reason")) or "unknown"
        queue = _text(death.get("queue")) or source
        reason = f"dead-lettered by the broker from {queue}: {broker_reason}"
        if broker_reason == "delivery_limit":
            reason += (
                " (delivered again and again without being settled: the consumer crashed or"
                " lost its connection each time)"
            )
        code = ErrorCode.DEAD_LETTERED.value
        attempts = _broker_attempts(broker_reason, queue, death, topo)
    dead_at = _when(headers.get(topology.HEADER_DEAD_AT)) or _when(death.get("time"))
    return DeadLetterInfo(
        job_id=job_id_of(letter.body, letter.correlation_id),
        reason=reason[:MAX_REASON_LENGTH],
        code=code,
        attempts=attempts,
        source_queue=source,
        dead_at=dead_at or letter.timestamp,
    )


def _latest_death(headers: Mapping[str, object]) -> Mapping[str, object]:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        return deaths[0]
    return {}


def _broker_attempts(
    reason: str, queue: str, death: Mapping[str, object], topo: topology.Topology
) -> int:
    # A quorum queue dead-letters at its delivery limit after limit + 1 deliveries, and resets
    # x-delivery-count when it does, so the queue's own limit is the only reliable figure.
    if reason == "delivery_limit":
        for spec in (topo.compile_queue, topo.apply_queue):
            limit = spec.arguments.get("x-delivery-limit")
            if spec.name == queue and isinstance(limit, int):
                return limit + 1
    return max(_int(death.get("count")), 1)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    try:
        return int(_text(value))
    except ValueError:
        return 0


def _when(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
