"""A compile-queue message body -> ``CompileRequested``, or why it can never be one (pure).

The subscriber hands this module the raw body (no decoder of FastStream's runs first), so every
way a body can be wrong ends here as an :class:`UndecodableError`, and the message is
dead-lettered with the reason instead of staying unacked.
"""

import json

from pydantic import ValidationError
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileRequested

SCHEMA_NAME = "latex.compile.requested"
KNOWN_VERSIONS = frozenset({1})
MAX_BODY_BYTES = 256 * 1024
"""A request names its source by S3 key: a few hundred bytes. Far more is not a request."""
_MAX_ERRORS = 3


class UndecodableError(Exception):
    """The message is not a compile request this compiler understands; goes to the DLQ."""

    def __init__(self, reason: str, code: ErrorCode) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def decode_request(body: bytes) -> CompileRequested:
    """Parse ``body``; UndecodableError carries the dead-letter reason and code."""
    if len(body) > MAX_BODY_BYTES:
        reason = f"the body is {len(body)} bytes, over the {MAX_BODY_BYTES} a request may have"
        raise UndecodableError(reason, ErrorCode.MESSAGE_MALFORMED)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableError(f"the body is not JSON: {exc}", ErrorCode.MESSAGE_MALFORMED) from exc
    except RecursionError as exc:
        reason = "the body is JSON nested too deeply to read"
        raise UndecodableError(reason, ErrorCode.MESSAGE_MALFORMED) from exc
    if not isinstance(data, dict):
        raise UndecodableError("the body is not a JSON object", ErrorCode.MESSAGE_MALFORMED)
    name, version = data.get("schema_name"), data.get("schema_version")
    if name != SCHEMA_NAME:
        reason = f"schema_name {name!r} is not {SCHEMA_NAME!r}"
        raise UndecodableError(reason, ErrorCode.MESSAGE_MALFORMED)
    # ``True == 1`` in Python: a boolean is no version number.
    if isinstance(version, bool) or version not in KNOWN_VERSIONS:
        known = ", ".join(map(str, sorted(KNOWN_VERSIONS)))
        reason = f"{SCHEMA_NAME} version {version!r} is not one this compiler knows ({known})"
        raise UndecodableError(reason, ErrorCode.MESSAGE_UNKNOWN_VERSION)
    try:
        return CompileRequested.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        parts = [f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in errors]
        reason = f"not a valid {SCHEMA_NAME} v1: " + "; ".join(parts[:_MAX_ERRORS])
        raise UndecodableError(reason, ErrorCode.MESSAGE_MALFORMED) from exc
