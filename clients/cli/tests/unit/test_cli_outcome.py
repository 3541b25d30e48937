"""Job states -> exit codes and the lines that explain them."""

import pytest
from texpipe_cli.errors import ApiProblemError, Exit
from texpipe_cli.models import Diagnostic, Job, JobError
from texpipe_cli.outcome import (
    describe_job,
    diagnostic_lines,
    error_location,
    exit_for_state,
    sanitize,
)

JOB = "0b4c6f3e-8f3a-4a52-9d1b-3f1f3b0e4a11"


def _job(state: str, error: JobError | None = None, **extra: object) -> Job:
    return Job(id=JOB, document_id="d", revision=3, state=state, error=error, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("applied", Exit.OK),
        ("queued", Exit.OK),
        ("failed", Exit.LATEX_FAILURE),
        ("timed_out", Exit.LATEX_FAILURE),
        ("rejected", Exit.LATEX_FAILURE),
        ("stale", Exit.SUPERSEDED),
        ("superseded", Exit.SUPERSEDED),
        ("dead", Exit.SERVICE),
        ("some_new_state", Exit.SERVICE),
    ],
)
def test_exit_code_of_each_state(state: str, code: Exit) -> None:
    assert exit_for_state(state) is code


def test_api_problems_are_usage_errors_when_4xx_and_service_trouble_when_5xx() -> None:
    assert ApiProblemError(404, "NOT_FOUND", "Not found", "").exit_code is Exit.USAGE
    assert ApiProblemError(503, "DEPENDENCY_UNAVAILABLE", "x", "y").exit_code is Exit.SERVICE
    assert str(ApiProblemError(422, "C", "Title", "Title")) == "Title (C, HTTP 422)"
    assert str(ApiProblemError(422, "C", "Title", "why")) == "Title: why (C, HTTP 422)"


def test_a_failure_shows_file_line_message_and_the_excerpt() -> None:
    error = JobError(
        code="LATEX_ERROR",
        message="Undefined control sequence.",
        file="chapters/one.tex",
        line=12,
        excerpt="l.12 \\foo\n\n  more\n",
    )
    lines = describe_job(_job("failed", error, duration_ms=210, engine="pdflatex"))
    assert lines == [
        f"job {JOB} (revision 3): failed (compiled in 210 ms, pdflatex)",
        "chapters/one.tex:12: Undefined control sequence. [LATEX_ERROR]",
        "  | l.12 \\foo",
        "  |   more",
        f"full log: texpipe log {JOB}",
    ]


def test_error_location_without_file_or_line() -> None:
    assert error_location(_job("timed_out", JobError("LATEX_TIMEOUT", ""))) == "LATEX_TIMEOUT"
    assert error_location(_job("failed", JobError("E", "m", file="a.tex"))) == "a.tex: m"


def test_other_states_say_what_happened() -> None:
    applied = describe_job(_job("applied", duration_ms=5, cache_hit=True, engine="xelatex"))
    assert applied == [
        f"job {JOB} (revision 3): applied (compiled in 5 ms, from the cache, xelatex)"
    ]
    assert "newer revision" in describe_job(_job("stale"))[0]
    superseded = describe_job(_job("superseded"))[0]
    assert "superseded: a newer revision was sent before this one was compiled" in superseded
    assert "gave up" in describe_job(_job("dead", dead_reason="delivery_limit"))[0]
    assert "delivery_limit" in describe_job(_job("dead", dead_reason="delivery_limit"))[0]


def test_text_from_the_document_cannot_drive_the_terminal() -> None:
    hostile = "ok\x1b]0;owned\x07 \x1b[2J\x9b31m\ttab\nline"
    assert sanitize(hostile) == "ok\\x1b]0;owned\\x07 \\x1b[2J\\x9b31m\ttab\nline"
    error = JobError(code="LATEX_ERROR", message="\x1b[31mred", file="a\x1b.tex", line=1)
    assert "\x1b" not in "\n".join(describe_job(_job("failed", error)))


def test_diagnostics_are_one_line_each_then_what_was_left_out() -> None:
    listed = (
        Diagnostic("error", "Undefined control sequence.", "chapters/chapter one.tex", 4),
        Diagnostic("warning", "There were undefined references."),
        Diagnostic("badbox", "Overfull \\hbox (1.0pt too wide) detected at line 3", "a.tex", 3),
        Diagnostic("warning", "no line here", "b.tex"),
        Diagnostic("warning", "\x1b[2Jcleared", "c\x1b.tex", 1),
    )
    job = _job("failed", diagnostics=listed, diagnostics_omitted=12)
    assert diagnostic_lines(job) == [
        "error chapters/chapter one.tex:4: Undefined control sequence.",
        "warning There were undefined references.",
        "badbox a.tex:3: Overfull \\hbox (1.0pt too wide) detected at line 3",
        "warning b.tex: no line here",
        "warning c\\x1b.tex:1: \\x1b[2Jcleared",
        f"... and 12 more in the log (texpipe log {JOB})",
    ]
    assert diagnostic_lines(_job("applied")) == []
