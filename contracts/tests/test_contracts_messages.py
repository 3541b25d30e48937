"""Compatibility rules of the v1 messages."""

import json
from uuid import uuid4

import pytest
from pydantic import ValidationError
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.topology import build_topology
from texpipe_contracts.v1 import (
    MAX_DIAGNOSTICS,
    CompileCancelRequested,
    CompileCompleted,
    CompileRequested,
    Engine,
    Outcome,
    PdfApplied,
    Severity,
)


def requested(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schema_name": "latex.compile.requested",
        "schema_version": 1,
        "message_id": str(uuid4()),
        "job_id": str(uuid4()),
        "produced_at": "2026-11-29T10:00:00Z",
        "document_id": str(uuid4()),
        "revision": 3,
        "source": {"key": "sources/" + "a" * 64 + ".tar", "sha256": "a" * 64, "size": 10240},
        "main_file": "main.tex",
        "engine": "pdflatex",
        "timeout_ms": 120000,
    }
    body.update(overrides)
    return body


def completed(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schema_name": "latex.compile.completed",
        "schema_version": 1,
        "job_id": str(uuid4()),
        "document_id": str(uuid4()),
        "revision": 1,
        "outcome": "succeeded",
        "pdf": {"key": "outputs/k/output.pdf", "sha256": "b" * 64, "size": 1000, "pages": 2},
        "log": {"key": "outputs/k/output.log", "size": 300},
        "duration_ms": 420,
        "engine": "pdflatex",
        "engine_version": "pdfTeX 3.141592653-2.6-1.40.24",
        "cache_hit": False,
    }
    body.update(overrides)
    return body


def test_a_v1_request_round_trips_through_json() -> None:
    message = CompileRequested.model_validate(requested())
    again = CompileRequested.model_validate_json(message.model_dump_json())
    assert again == message
    assert message.engine is Engine.PDFLATEX
    assert message.correlation_id == str(message.job_id)


def test_an_unknown_extra_field_is_ignored() -> None:
    message = CompileRequested.model_validate(requested(priority="high"))
    assert not hasattr(message, "priority")
    event = CompileCompleted.model_validate(completed(warnings=3))
    assert event.outcome is Outcome.SUCCEEDED


def test_defaults_fill_the_envelope() -> None:
    body = requested()
    for key in ("message_id", "produced_at", "schema_name", "schema_version"):
        body.pop(key)
    message = CompileRequested.model_validate(body)
    assert message.schema_version == 1
    assert message.produced_at.tzinfo is not None


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({k: v for k, v in requested().items() if k != "revision"}, "revision"),
        (requested(revision="latest"), "revision"),
        (requested(schema_version=2), "schema_version"),
        (requested(schema_name="latex.compile.completed"), "schema_name"),
        (requested(engine="troff"), "engine"),
        (requested(main_file="../etc/passwd"), "main_file"),
        (requested(timeout_ms=10**9), "timeout_ms"),
        (requested(source={"key": "sources/x.tar", "sha256": "nothex", "size": 1}), "sha256"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(body: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CompileRequested.model_validate(body)
    assert named in str(caught.value)


def test_unknown_major_version_of_a_result_is_refused() -> None:
    with pytest.raises(ValidationError, match="schema_version"):
        CompileCompleted.model_validate_json(json.dumps(completed(schema_version=2)))


def test_outcome_and_payload_must_agree() -> None:
    with pytest.raises(ValidationError, match="needs 'pdf'"):
        CompileCompleted.model_validate(completed(pdf=None))
    with pytest.raises(ValidationError, match="needs 'error'"):
        CompileCompleted.model_validate(completed(outcome="failed", pdf=None))
    failed = CompileCompleted.model_validate(
        completed(
            outcome="failed",
            pdf=None,
            error={
                "code": "LATEX_ERROR",
                "message": "Undefined control sequence.",
                "file": "main.tex",
                "line": 4,
            },
        )
    )
    assert failed.error is not None
    assert failed.error.code is ErrorCode.LATEX_ERROR


def test_diagnostics_round_trip_and_are_optional() -> None:
    assert CompileCompleted.model_validate(completed()).diagnostics is None
    listed = {
        "items": [
            {"severity": "error", "file": "chapters/chapter one.tex", "line": 4, "message": "x"},
            {"severity": "badbox", "file": "main.tex", "line": 3, "message": "Overfull \\hbox"},
            {"severity": "warning", "message": "There were undefined references."},
        ],
        "omitted": 7,
    }
    event = CompileCompleted.model_validate(completed(diagnostics=listed))
    again = CompileCompleted.model_validate_json(event.model_dump_json())
    assert again == event
    assert again.diagnostics is not None
    first = again.diagnostics.items[0]
    assert (first.severity, first.file, first.line) == (
        Severity.ERROR,
        "chapters/chapter one.tex",
        4,
    )
    assert (again.diagnostics.items[2].file, again.diagnostics.omitted) == (None, 7)


def test_diagnostics_are_bounded_and_a_later_field_in_one_is_ignored() -> None:
    entry = {"severity": "warning", "message": "w", "column": 3}
    event = CompileCompleted.model_validate(completed(diagnostics={"items": [entry]}))
    assert event.diagnostics is not None
    assert event.diagnostics.items[0].message == "w"
    too_many = {"items": [entry] * (MAX_DIAGNOSTICS + 1)}
    with pytest.raises(ValidationError, match="items"):
        CompileCompleted.model_validate(completed(diagnostics=too_many))
    with pytest.raises(ValidationError, match="severity"):
        CompileCompleted.model_validate(
            completed(diagnostics={"items": [{"severity": "info", "message": "m"}]})
        )


def test_pdf_applied_and_cancel_requested_round_trip_and_refuse_other_versions() -> None:
    ids = {"job_id": str(uuid4()), "document_id": str(uuid4())}
    applied = PdfApplied.model_validate(
        {
            **ids,
            "tenant_id": str(uuid4()),
            "revision": 2,
            "pdf": {"key": "outputs/k/output.pdf", "sha256": "b" * 64, "size": 10, "pages": 1},
            "applied_at": "2026-11-29T10:00:00Z",
            "new_optional_field": "ignored",
        }
    )
    assert PdfApplied.model_validate_json(applied.model_dump_json()) == applied
    assert applied.schema_name == "document.pdf_applied"
    cancel = CompileCancelRequested.model_validate({**ids, "revision": 2})
    assert cancel.correlation_id == ids["job_id"]
    with pytest.raises(ValidationError):
        CompileCancelRequested.model_validate({**ids, "revision": 2, "schema_version": 2})
    with pytest.raises(ValidationError):
        PdfApplied.model_validate({**ids, "revision": 2})  # no PDF: not an applied PDF


def test_every_compiler_process_has_its_own_cancel_queue() -> None:
    assert build_topology().cancel_queue_name("abc") == "latex.compile.cancel.abc"
    assert build_topology("t1").cancel_queue_name("abc") == "t1.latex.compile.cancel.abc"
