"""A compile-queue message body -> ``CompileRequested``, or why it can never be one (pure)."""

import json

from pydantic import ValidationError
from texpipe_contracts.v1 import CompileRequested

SCHEMA_NAME = "latex.compile.requested"
KNOWN_VERSIONS = frozenset({1})
CODE_MALFORMED = "MESSAGE_MALFORMED"
CODE_UNKNOWN_VERSION = "MESSAGE_UNKNOWN_VERSION"
_MAX_ERRORS = 3


class UndecodableError(Exception):
    """The message is not a compile request this compiler understands; goes to the DLQ."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def decode_request(body: bytes) -> CompileRequested:
    """Parse ``body``; UndecodableError carries the dead-letter reason and code."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableError(f"the body is not JSON: {exc}", CODE_MALFORMED) from exc
    if not isinstance(data, dict):
        raise UndecodableError("the body is not a JSON object", CODE_MALFORMED)
    name, version = data.get("schema_name"), data.get("schema_version")
    if name != SCHEMA_NAME:
        raise UndecodableError(f"schema_name {name!r} is not {SCHEMA_NAME!r}", CODE_MALFORMED)
    if version not in KNOWN_VERSIONS:
        known = ", ".join(map(str, sorted(KNOWN_VERSIONS)))
        reason = f"{SCHEMA_NAME} version {version!r} is not one this compiler knows ({known})"
        raise UndecodableError(reason, CODE_UNKNOWN_VERSION)
    try:
        return CompileRequested.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        parts = [f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in errors]
        reason = f"not a valid {SCHEMA_NAME} v1: " + "; ".join(parts[:_MAX_ERRORS])
        raise UndecodableError(reason, CODE_MALFORMED) from exc
