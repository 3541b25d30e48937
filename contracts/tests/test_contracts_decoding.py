"""Decoding a body names why it cannot be decoded."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from texpipe_contracts.decoding import (
    MAX_BODY_BYTES,
    UndecodableMessageError,
    decode_message,
    decode_one_of,
)
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileCompleted, CompileRequested, CompileStarted


def request_body(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "schema_name": "latex.compile.requested",
        "schema_version": 1,
        "job_id": str(uuid4()),
        "document_id": str(uuid4()),
        "revision": 1,
        "source": {"key": "sources/x.tar", "sha256": "a" * 64, "size": 1},
        "engine": "pdflatex",
    }
    body.update(overrides)
    return json.dumps(body).encode()


def test_a_good_body_decodes() -> None:
    message = decode_message(request_body(), CompileRequested)
    assert message.revision == 1


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b"{not json", ErrorCode.MESSAGE_MALFORMED, "not JSON"),
        (b"\xff\xfe", ErrorCode.MESSAGE_MALFORMED, "not JSON"),
        (b"[1, 2]", ErrorCode.MESSAGE_MALFORMED, "not an object"),
        (b"[" * 100_000 + b"]" * 100_000, ErrorCode.MESSAGE_MALFORMED, "nested"),
        (request_body(schema_version=2), ErrorCode.MESSAGE_UNKNOWN_VERSION, "major version 2"),
        (request_body(schema_name="other"), ErrorCode.MESSAGE_MALFORMED, "schema_name"),
        (request_body(revision=0), ErrorCode.MESSAGE_MALFORMED, "revision"),
        (request_body(schema_version=True), ErrorCode.MESSAGE_UNKNOWN_VERSION, "version True"),
        (request_body(schema_version=None), ErrorCode.MESSAGE_UNKNOWN_VERSION, "version None"),
        (request_body(main_file="../x.tex"), ErrorCode.MESSAGE_MALFORMED, "main_file"),
        (b" " * (MAX_BODY_BYTES + 1), ErrorCode.MESSAGE_MALFORMED, "bytes, over"),
    ],
)
def test_a_bad_body_is_refused_with_its_reason(body: bytes, code: ErrorCode, says: str) -> None:
    with pytest.raises(UndecodableMessageError) as caught:
        decode_message(body, CompileRequested)
    assert caught.value.code is code
    assert says in caught.value.reason


def test_a_request_is_not_a_result() -> None:
    with pytest.raises(UndecodableMessageError, match=r"expected 'latex\.compile\.completed'"):
        decode_message(request_body(), CompileCompleted)


def test_one_of_several_messages_is_chosen_by_its_schema_name() -> None:
    notice = CompileStarted(
        job_id=uuid4(), document_id=uuid4(), revision=1, started_at=datetime.now(UTC), compiler="c"
    )
    body = notice.model_dump_json().encode()
    assert decode_one_of(body, CompileCompleted, CompileStarted) == notice
    with pytest.raises(UndecodableMessageError, match=r"expected 'latex\.compile\.completed' or"):
        decode_one_of(request_body(), CompileCompleted, CompileStarted)
    with pytest.raises(UndecodableMessageError) as raised:
        decode_one_of(body.replace(b'"revision":1', b'"revision":0'), CompileStarted)
    assert raised.value.code is ErrorCode.MESSAGE_MALFORMED
