"""Reading the api's JSON: the fields we need, checked; the rest ignored."""

import pytest
from texpipe_cli.errors import ServiceError
from texpipe_cli.models import parse_created, parse_job, parse_job_id

JOB = {
    "id": "j",
    "document_id": "d",
    "revision": 2,
    "state": "failed",
    "engine": "pdflatex",
    "created_at": "2025-01-01T00:00:00Z",
    "error": {"code": "LATEX_ERROR", "message": "m", "file": "main.tex", "line": 4, "excerpt": ""},
    "a_field_added_later": [1, 2],
}


def test_a_job_is_read() -> None:
    job = parse_job(JOB)
    assert (job.diagnostics, job.diagnostics_omitted) == ((), 0)
    assert (job.state, job.final, job.revision) == ("failed", True, 2)
    assert job.error is not None
    assert (job.error.file, job.error.line) == ("main.tex", 4)
    assert parse_job({**JOB, "state": "queued", "error": None}).final is False


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {**JOB, "revision": "2"},
        {**JOB, "revision": True},
        {**JOB, "state": None},
        {**JOB, "error": "boom"},
        {**JOB, "diagnostics": {"items": "x"}},
        {**JOB, "diagnostics": {"items": [{"severity": "error"}]}},
        {**JOB, "diagnostics": {"items": [{"severity": "error", "message": "m", "line": "4"}]}},
    ],
)
def test_an_unexpected_answer_is_service_trouble(bad: object) -> None:
    with pytest.raises(ServiceError, match="unexpected answer"):
        parse_job(bad)


def test_created_and_accepted() -> None:
    created = parse_created({"id": "d", "revision": 1, "engine": "pdflatex", "job_id": None})
    assert (created.id, created.revision, created.job_id) == ("d", 1, None)
    assert parse_job_id({"job_id": "j", "state": "queued"}) == "j"


def test_diagnostics_are_read() -> None:
    listed = {
        "items": [
            {"severity": "warning", "file": "a b.tex", "line": 3, "message": "m", "later": 1},
            {"severity": "badbox", "file": None, "line": None, "message": "box"},
        ],
        "omitted": 2,
    }
    job = parse_job({**JOB, "diagnostics": listed})
    assert [(d.severity, d.file, d.line, d.message) for d in job.diagnostics] == [
        ("warning", "a b.tex", 3, "m"),
        ("badbox", None, None, "box"),
    ]
    assert job.diagnostics_omitted == 2
