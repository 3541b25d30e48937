"""The answer table of DESIGN.md, row by row."""

import pytest
from texpipe_applier.answers import (
    Action,
    Answer,
    classify,
    classify_mark_dead,
    timed_out,
    unreachable,
)


@pytest.mark.parametrize(
    ("status", "code", "body_status", "action", "answer"),
    [
        (200, None, "applied", Action.ACK, Answer.APPLIED),
        (200, None, "already_applied", Action.ACK, Answer.ALREADY_APPLIED),
        (409, "LATEX_JOB_STALE", "", Action.ACK, Answer.STALE),
        (409, "LATEX_JOB_RESULT_INVALID", "", Action.RETRY, Answer.RESULT_INVALID),
        (409, "SOMETHING_NEW", "", Action.RETRY, Answer.CONFLICT_OTHER),
        (409, None, "", Action.RETRY, Answer.CONFLICT_OTHER),
        (500, None, "", Action.RETRY, Answer.SERVER_ERROR),
        (502, None, "", Action.WAIT, Answer.SERVER_ERROR),
        (503, "DEPENDENCY_UNAVAILABLE", "", Action.WAIT, Answer.SERVER_ERROR),
        (429, None, "", Action.WAIT, Answer.THROTTLED),
        (408, None, "", Action.WAIT, Answer.THROTTLED),
        (404, "JOB_NOT_FOUND", "", Action.DEAD_LETTER, Answer.NOT_FOUND),
        (401, None, "", Action.DEAD_LETTER, Answer.UNAUTHORIZED),
        (403, None, "", Action.DEAD_LETTER, Answer.FORBIDDEN),
        (422, "VALIDATION", "", Action.DEAD_LETTER, Answer.UNPROCESSABLE),
        (400, None, "", Action.DEAD_LETTER, Answer.REFUSED),
        (413, None, "", Action.DEAD_LETTER, Answer.REFUSED),
        (302, None, "", Action.DEAD_LETTER, Answer.UNEXPECTED),
    ],
)
def test_each_answer_is_classified_as_the_design_says(
    status: int, code: str | None, body_status: str, action: Action, answer: Answer
) -> None:
    verdict = classify(status, code, body_status=body_status)
    assert (verdict.action, verdict.answer) == (action, answer)
    assert verdict.reason


def test_dead_letter_codes_name_the_http_status_or_the_problem_code() -> None:
    assert classify(404, None).code == "HTTP_404"
    assert classify(422, "VALIDATION").code == "VALIDATION"
    assert classify(409, "LATEX_JOB_RESULT_INVALID").code == "LATEX_JOB_RESULT_INVALID"


def test_problem_detail_reaches_the_reason() -> None:
    verdict = classify(409, "LATEX_JOB_RESULT_INVALID", detail="pdf not visible in storage")
    assert "pdf not visible in storage" in verdict.reason


def test_timeouts_and_refused_connections_wait_for_the_api() -> None:
    assert timed_out(3.0).action is Action.WAIT
    assert timed_out(3.0).answer is Answer.TIMEOUT
    down = unreachable("ClientConnectorError: refused")
    assert (down.action, down.answer) == (Action.WAIT, Answer.UNREACHABLE)
    assert "refused" in down.reason


@pytest.mark.parametrize(
    ("status", "action", "answer"),
    [
        (200, Action.ACK, Answer.APPLIED),
        (204, Action.ACK, Answer.APPLIED),
        (404, Action.ACK, Answer.NOT_FOUND),
        (422, Action.ACK, Answer.REFUSED),
        (409, Action.ACK, Answer.REFUSED),
        (401, Action.WAIT, Answer.UNAUTHORIZED),
        (403, Action.WAIT, Answer.FORBIDDEN),
        (500, Action.WAIT, Answer.SERVER_ERROR),
        (503, Action.WAIT, Answer.SERVER_ERROR),
        (429, Action.WAIT, Answer.SERVER_ERROR),
    ],
)
def test_mark_dead_answers(status: int, action: Action, answer: Answer) -> None:
    verdict = classify_mark_dead(status)
    assert (verdict.action, verdict.answer) == (action, answer)


def test_mark_dead_on_a_job_that_already_ended_says_so() -> None:
    verdict = classify_mark_dead(200, body_status="already_applied", job_state="applied")
    assert (verdict.action, verdict.answer) == (Action.ACK, Answer.ALREADY_APPLIED)
    assert "applied" in verdict.reason
