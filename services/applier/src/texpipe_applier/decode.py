"""Turn an apply-queue message body into a result, or say precisely why it cannot be (pure)."""

import json

from pydantic import ValidationError
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileCompleted

SCHEMA_NAME = "latex.compile.completed"
KNOWN_VERSIONS = frozenset({1})
MAX_REASON_ERRORS = 3

# Error codes of dead letters the applier writes (``x-texpipe-error-code``).
CODE_MALFORMED = ErrorCode.MESSAGE_MALFORMED.value
CODE_UNKNOWN_VERSION = ErrorCode.MESSAGE_UNKNOWN_VERSION.value
CODE_RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"


class UndecodableError(Exception):
    """The message can never be applied as it is; ``reason`` says why, for the dead letter."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def decode_result(body: bytes) -> CompileCompleted:
    """Parse ``body`` as ``latex.compile.completed`` of a major version this applier knows."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableError(f"the body is not JSON: {exc}", CODE_MALFORMED) from exc
    if not isinstance(data, dict):
        raise UndecodableError("the body is JSON but not an object", CODE_MALFORMED)
    name, version = data.get("schema_name"), data.get("schema_version")
    if name != SCHEMA_NAME:
        raise UndecodableError(f"schema_name is {name!r}, expected {SCHEMA_NAME!r}", CODE_MALFORMED)
    if version not in KNOWN_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_VERSIONS))
        reason = f"{SCHEMA_NAME} major version {version!r} is unknown here (known: {known})"
        raise UndecodableError(reason, CODE_UNKNOWN_VERSION)
    try:
        return CompileCompleted.model_validate(data)
    except ValidationError as exc:
        raise UndecodableError(_summarise(exc), CODE_MALFORMED) from exc


def _summarise(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
        for err in errors[:MAX_REASON_ERRORS]
    ]
    more = f" (+{len(errors) - MAX_REASON_ERRORS} more)" if len(errors) > MAX_REASON_ERRORS else ""
    return f"the body does not match {SCHEMA_NAME} v1: " + "; ".join(parts) + more
