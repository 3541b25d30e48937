"""The stale check's decision table (DESIGN.md), without a database."""

import pytest
from texpipe_api.stale import Action, decide
from texpipe_contracts.v1 import Outcome

OK = Outcome.SUCCEEDED


@pytest.mark.parametrize(
    ("state", "outcome", "revision", "current", "pdf", "action", "after"),
    [
        ("queued", OK, 2, 2, None, Action.APPLY, "applied"),
        ("queued", OK, 2, 2, 1, Action.APPLY, "applied"),
        ("queued", OK, 1, 2, None, Action.MAKE_STALE, "stale"),  # the document moved on
        ("queued", OK, 1, 1, 1, Action.MAKE_STALE, "stale"),  # not newer than the applied PDF
        ("queued", OK, 2, 3, 3, Action.MAKE_STALE, "stale"),
        ("dead", OK, 2, 2, 1, Action.APPLY, "applied"),  # a replayed dead letter revives
        ("queued", Outcome.FAILED, 1, 2, None, Action.RECORD, "failed"),
        ("queued", Outcome.TIMED_OUT, 2, 2, None, Action.RECORD, "timed_out"),
        ("dead", Outcome.REJECTED, 2, 2, None, Action.RECORD, "rejected"),
        ("applied", OK, 2, 2, 2, Action.ALREADY_DONE, "applied"),  # redelivery
        ("failed", OK, 2, 2, None, Action.ALREADY_DONE, "failed"),
        ("stale", OK, 1, 2, 2, Action.ALREADY_STALE, "stale"),
        ("cancelled", OK, 1, 1, None, Action.CANCELLED, "cancelled"),  # the applier acks
        ("cancelled", Outcome.FAILED, 1, 1, None, Action.CANCELLED, "cancelled"),
    ],
)
def test_decision(
    state: str,
    outcome: Outcome,
    revision: int,
    current: int,
    pdf: int | None,
    action: Action,
    after: str,
) -> None:
    verdict = decide(
        job_state=state,
        outcome=outcome,
        result_revision=revision,
        current_revision=current,
        pdf_revision=pdf,
    )
    assert (verdict.action, verdict.job_state) == (action, after)
