"""The stale check (DESIGN.md), as a pure decision over what is locked in the transaction.

A successful result is applied only when its revision is still the document's current one and
is newer than the PDF already applied; otherwise the job becomes ``stale``. Failed, timed-out
and rejected results are recorded on the job and never touch the document. A job that already
has its result answers the same way again (a redelivery is not applied twice). ``queued`` and
``dead`` jobs take results: a dead job revives when its dead letter is replayed. A
``cancelled`` job is final: its result (from a compiler that never heard of the cancel) is
refused like a stale one, and the applier acks it.
"""

from dataclasses import dataclass
from enum import Enum

from texpipe_contracts.v1 import Outcome

TAKES_RESULTS = frozenset({"queued", "dead"})
_OUTCOME_STATE = {
    Outcome.FAILED: "failed",
    Outcome.TIMED_OUT: "timed_out",
    Outcome.REJECTED: "rejected",
}
_DONE_STATES = frozenset({"applied", "failed", "timed_out", "rejected"})


class Action(Enum):
    """What the transaction does with the result."""

    APPLY = "apply"  # set the document's PDF, job -> applied
    MAKE_STALE = "make_stale"  # job -> stale, document untouched
    RECORD = "record"  # job -> failed / timed_out / rejected, document untouched
    ALREADY_DONE = "already_done"  # the job has its result: 200 already_applied
    ALREADY_STALE = "already_stale"  # the job was found stale before: 409 stale again
    CANCELLED = "cancelled"  # the job was cancelled: 409 stale (nothing to retry)
    REFUSE = "refuse"  # a state this code does not know takes results: 409, retry later


@dataclass(frozen=True, slots=True)
class Verdict:
    """The action and the job's state after it."""

    action: Action
    job_state: str


def decide(
    *,
    job_state: str,
    outcome: Outcome,
    result_revision: int,
    current_revision: int,
    pdf_revision: int | None,
) -> Verdict:
    """Decide what a result does to its job and document."""
    if job_state == "stale":
        return Verdict(Action.ALREADY_STALE, job_state)
    if job_state == "cancelled":
        return Verdict(Action.CANCELLED, job_state)
    if job_state in _DONE_STATES:
        return Verdict(Action.ALREADY_DONE, job_state)
    if job_state not in TAKES_RESULTS:
        # e.g. a state added by a newer schema during a rolling deploy: let the applier retry.
        return Verdict(Action.REFUSE, job_state)
    if outcome is not Outcome.SUCCEEDED:
        return Verdict(Action.RECORD, _OUTCOME_STATE[outcome])
    is_current = result_revision == current_revision
    is_newer = pdf_revision is None or result_revision > pdf_revision
    if is_current and is_newer:
        return Verdict(Action.APPLY, "applied")
    return Verdict(Action.MAKE_STALE, "stale")
