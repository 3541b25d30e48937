"""Compile-queue messages: what is a request, and why the rest is dead-lettered."""

import json
import uuid

import pytest
from texpipe_compiler.decode import MAX_BODY_BYTES, UndecodableError, decode_request
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileRequested, Engine, SourceBundleRef


def request(**override: object) -> dict[str, object]:
    message = CompileRequested(
        job_id=uuid.uuid4(),
        document_id=uuid.uuid4(),
        revision=1,
        source=SourceBundleRef(key="sources/x.tar", sha256="a" * 64, size=10),
        engine=Engine.PDFLATEX,
    )
    data: dict[str, object] = json.loads(message.model_dump_json())
    data.update(override)
    return data


CODE_MALFORMED = ErrorCode.MESSAGE_MALFORMED
CODE_UNKNOWN_VERSION = ErrorCode.MESSAGE_UNKNOWN_VERSION


def test_a_v1_request_decodes_and_ignores_unknown_fields() -> None:
    decoded = decode_request(json.dumps(request(extra_field="ok")).encode())
    assert decoded.engine is Engine.PDFLATEX


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b"{not json", CODE_MALFORMED, "not JSON"),
        (b"\xff\xfe{}", CODE_MALFORMED, "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, CODE_MALFORMED, "nested too deeply"),
        (b"[1, 2]", CODE_MALFORMED, "not a JSON object"),
        (b" " * (MAX_BODY_BYTES + 1), CODE_MALFORMED, "bytes, over"),
        (json.dumps(request(schema_name="other")).encode(), CODE_MALFORMED, "schema_name"),
        (json.dumps(request(schema_version=2)).encode(), CODE_UNKNOWN_VERSION, "version 2"),
        (json.dumps(request(schema_version=True)).encode(), CODE_UNKNOWN_VERSION, "version True"),
        (json.dumps(request(schema_version=None)).encode(), CODE_UNKNOWN_VERSION, "version None"),
        (json.dumps(request(engine="latexmk")).encode(), CODE_MALFORMED, "engine"),
        (json.dumps(request(main_file="-shell-escape.tex")).encode(), CODE_MALFORMED, "main_file"),
        (json.dumps(request(main_file="../x.tex")).encode(), CODE_MALFORMED, "main_file"),
        (json.dumps(request(timeout_ms=0)).encode(), CODE_MALFORMED, "timeout_ms"),
    ],
)
def test_what_is_not_a_v1_request_says_why(body: bytes, code: ErrorCode, reason: str) -> None:
    with pytest.raises(UndecodableError) as caught:
        decode_request(body)
    assert caught.value.code is code
    assert reason in caught.value.reason
