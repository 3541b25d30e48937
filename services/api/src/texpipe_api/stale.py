"""The stale check (DESIGN.md), as a pure decision over what is locked in the transaction.

A successful result is applied only when its revision is still the document's current one and
is newer than the PDF already applied; otherwise the job becomes ``stale``. Failed, timed-out
and rejected results are recorded on the job and never touch the document. A job that already
has its result answers the same way again (a redelivery is not applied twice). ``queued`` and
``dead`` jobs take results: a dead job revives when its dead letter is replayed. A
``superseded`` job answers as a stale one. A ``cancelled`` job is final: its result (from a
compiler that never heard of the cancel) is refused like a stale one, and the applier acks it.
"""

from dataclasses import dataclass
from enum import Enum

from texpipe_contracts.jobs import JobState
from texpipe_contracts.v1 import Outcome

TAKES_RESULTS = frozenset({JobState.QUEUED, JobState.DEAD})
_OUTCOME_STATE = {
    Outcome.FAILED: JobState.FAILED,
    Outcome.TIMED_OUT: JobState.TIMED_OUT,
    Outcome.REJECTED: JobState.REJECTED,
}
_DONE_STATES = frozenset({JobState.APPLIED, JobState.FAILED, JobState.TIMED_OUT, JobState.REJECTED})
# A newer revision made the result useless. A ``superseded`` job was never meant to be
# published; a result can still reach it when a relay's confirmed publish was not recorded (its
# transaction failed after the confirm): the result is refused as stale, and nothing retries it.
_SUPERSEDED_STATES = frozenset({JobState.STALE, JobState.SUPERSEDED})


class Action(Enum):
    """What the transaction does with the result."""

    APPLY = "apply"  # set the document's PDF, job -> applied
    MAKE_STALE = "make_stale"  # job -> stale, document untouched
    RECORD = "record"  # job -> failed / timed_out / rejected, document untouched
    ALREADY_DONE = "already_done"  # the job has its result: 200 already_applied
    ALREADY_STALE = "already_stale"  # the job was found stale (or superseded) before: 409
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
    if job_state in _SUPERSEDED_STATES:
        return Verdict(Action.ALREADY_STALE, job_state)
    if job_state == JobState.CANCELLED:
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
        return Verdict(Action.APPLY, JobState.APPLIED)
    return Verdict(Action.MAKE_STALE, JobState.STALE)
