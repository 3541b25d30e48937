"""The enqueue ping's decisions, pure: which document a ping uses, and its stage times.

Times are milliseconds since the ping request arrived, on the api's monotonic clock. The
database's timestamps (when the relay marked the row published, when the job was finished) are
mapped onto that clock through one anchor read in the accepting transaction, so the api's and
the database's clocks need not agree (they may be on different hosts).
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from texpipe_contracts.jobs import JobState, is_final

PingResult = Literal["ok", "failed", "timeout"]


def ping_result(state: str | None) -> PingResult:
    """What a ping answers for its job's last state (None: the job is gone)."""
    if state == JobState.APPLIED:
        return "ok"
    if state is None or is_final(state):
        return "failed"
    return "timeout"


@dataclass(frozen=True, slots=True)
class PingDocument:
    """One of the ping tenant's documents, as the accepting transaction sees it."""

    id: UUID
    busy: bool
    """A ping may still be waiting for its job (queued, younger than the longest ping)."""
    last_seq: int
    """The seq of its latest job (0: none): orders documents by their last use."""


def choose_document(documents: list[PingDocument], max_documents: int) -> UUID | None:
    """The document for a new ping's revision; None: create one.

    A new revision makes a result for an older one stale, so a ping never takes a document
    whose latest ping may still be waiting: one at a time, the pings share one document; pings
    that overlap get their own, up to ``max_documents``. Past that the least recently used one
    is taken (its ping, if any still waits, ends stale: more pings at once than that is abuse).
    """
    free = [doc for doc in documents if not doc.busy]
    if free:
        return free[0].id
    if len(documents) < max_documents:
        return None
    return min(documents, key=lambda doc: doc.last_seq).id


@dataclass(frozen=True, slots=True)
class DbClock:
    """Maps the database's timestamps onto the ping's milliseconds."""

    anchor: datetime
    """The database's clock_timestamp() read in the accepting transaction..."""
    anchor_ms: int
    """...and the ping's milliseconds when that read returned."""

    def ms(self, at: datetime) -> int:
        """The ping's milliseconds at database time ``at``."""
        return self.anchor_ms + round((at - self.anchor).total_seconds() * 1000)


@dataclass(slots=True)
class PingTimes:
    """The stages reached so far (None: not yet)."""

    accepted_ms: int | None = None
    published_ms: int | None = None
    compile_ms: int | None = None
    applied_ms: int | None = None

    def see(
        self,
        clock: DbClock,
        *,
        published_at: datetime | None,
        state: str,
        finished_at: datetime | None,
        duration_ms: int | None,
    ) -> None:
        """Record what one read of the job and its outbox row shows."""
        floor = self.accepted_ms or 0  # nothing happens before the job is committed
        if published_at is not None and self.published_ms is None:
            self.published_ms = max(floor, clock.ms(published_at))
        if duration_ms is not None:
            self.compile_ms = duration_ms
        if state == JobState.APPLIED and finished_at is not None and self.applied_ms is None:
            self.applied_ms = max(floor, clock.ms(finished_at))
        if self.published_ms is not None and self.applied_ms is not None:
            # The relay marks the row once the broker confirmed it, and that can commit after
            # the result was applied; the message was routed before then: never after applied.
            self.published_ms = min(self.published_ms, self.applied_ms)

    def reached(self) -> dict[str, int]:
        """The stages reached, by name (what a 502/504 answer reports)."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    def first_missing(self) -> str:
        """The first stage not reached: ``published`` while the outbox row is unsent, else
        ``applied`` (published, but no result came back: compiler, S3 or applier)."""
        if self.accepted_ms is None:
            return "accepted"
        if self.published_ms is None:
            return "published"
        return "applied"
