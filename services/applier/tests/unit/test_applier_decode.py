"""decode_result: what counts as a result this applier can deliver."""

import json
from uuid import uuid4

import pytest
from texpipe_applier.decode import (
    CODE_MALFORMED,
    CODE_UNKNOWN_VERSION,
    UndecodableError,
    decode_result,
)
from texpipe_contracts.v1 import CompileCompleted, Engine, Outcome, PdfRef


def completed() -> dict[str, object]:
    event = CompileCompleted(
        job_id=uuid4(),
        document_id=uuid4(),
        revision=3,
        outcome=Outcome.SUCCEEDED,
        pdf=PdfRef(key="outputs/k/output.pdf", size=10, sha256="a" * 64, pages=1),
        duration_ms=120,
        engine=Engine.PDFLATEX,
        engine_version="pdfTeX 3.14",
    )
    data: dict[str, object] = json.loads(event.model_dump_json())
    return data


def test_a_v1_result_decodes() -> None:
    data = completed()
    event = decode_result(json.dumps(data).encode())
    assert str(event.job_id) == data["job_id"]


def test_unknown_fields_are_ignored() -> None:
    data = completed() | {"a_field_from_the_future": 1}
    assert decode_result(json.dumps(data).encode()).revision == 3


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b"\xff\xfe not json", CODE_MALFORMED, "not JSON"),
        (b"{truncated", CODE_MALFORMED, "not JSON"),
        (b"[1, 2]", CODE_MALFORMED, "not an object"),
        (
            b'{"schema_name": "latex.compile.requested", "schema_version": 1}',
            CODE_MALFORMED,
            "schema_name",
        ),
    ],
)
def test_garbage_is_refused_with_a_reason(body: bytes, code: str, words: str) -> None:
    with pytest.raises(UndecodableError) as caught:
        decode_result(body)
    assert caught.value.code == code
    assert words in caught.value.reason


def test_an_unknown_major_version_is_named() -> None:
    data = completed() | {"schema_version": 2}
    with pytest.raises(UndecodableError) as caught:
        decode_result(json.dumps(data).encode())
    assert caught.value.code == CODE_UNKNOWN_VERSION
    assert "version 2" in caught.value.reason


def test_a_v1_result_with_bad_fields_says_which() -> None:
    data = completed() | {"revision": 0, "outcome": "exploded", "job_id": "nope", "engine": "x"}
    with pytest.raises(UndecodableError) as caught:
        decode_result(json.dumps(data).encode())
    assert caught.value.code == CODE_MALFORMED
    assert "job_id" in caught.value.reason
    assert "more" in caught.value.reason
