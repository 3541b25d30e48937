"""Turn a message body into a v1 model, or say precisely why it never can be.

Every consumer uses this, so every dead letter for a bad message reads alike: the reason
names the problem (not JSON, another schema, an unknown major version, the first fields that
do not match) and the code says which kind it is.
"""

import json
from typing import Any, TypeVar

from pydantic import ValidationError

from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1.common import Envelope

MessageT = TypeVar("MessageT", bound=Envelope)
MAX_REASON_ERRORS = 3
MAX_BODY_BYTES = 256 * 1024
"""A v1 message names its objects by S3 key: a few hundred bytes. Far more is not one."""


class UndecodableMessageError(Exception):
    """A body that will never decode as it is; ``reason`` and ``code`` go on the dead letter."""

    def __init__(self, reason: str, code: ErrorCode) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def decode_message(
    body: bytes, model: type[MessageT], *, max_bytes: int = MAX_BODY_BYTES
) -> MessageT:
    """Parse ``body`` as ``model``, refusing another schema or a major version it is not."""
    return _validate(_load_object(body, max_bytes), model)


def decode_one_of(
    body: bytes, *models: type[Envelope], max_bytes: int = MAX_BODY_BYTES
) -> Envelope:
    """Parse ``body`` as whichever of ``models`` its ``schema_name`` names (one queue that
    carries several messages dispatches by schema name); the caller tells them apart with
    ``isinstance``. Raises :class:`UndecodableMessageError` as :func:`decode_message` does,
    and when the schema name is none of ``models``'."""
    data = _load_object(body, max_bytes)
    for model in models:
        if data.get("schema_name") == model.model_fields["schema_name"].default:
            return _validate(data, model)
    expected = " or ".join(repr(m.model_fields["schema_name"].default) for m in models)
    raise UndecodableMessageError(
        f"schema_name is {data.get('schema_name')!r}, expected {expected}",
        ErrorCode.MESSAGE_MALFORMED,
    )


def _load_object(body: bytes, max_bytes: int) -> dict[str, Any]:
    if len(body) > max_bytes:
        raise UndecodableMessageError(
            f"the body is {len(body)} bytes, over the {max_bytes} a message may have",
            ErrorCode.MESSAGE_MALFORMED,
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableMessageError(
            f"the body is not JSON: {exc}", ErrorCode.MESSAGE_MALFORMED
        ) from exc
    except RecursionError as exc:  # absurdly nested JSON
        raise UndecodableMessageError(
            "the body is nested too deeply to parse", ErrorCode.MESSAGE_MALFORMED
        ) from exc
    if not isinstance(data, dict):
        raise UndecodableMessageError(
            "the body is JSON but not an object", ErrorCode.MESSAGE_MALFORMED
        )
    return data


def _validate(data: dict[str, Any], model: type[MessageT]) -> MessageT:
    schema_name = model.model_fields["schema_name"].default
    version = model.model_fields["schema_version"].default
    if data.get("schema_name") != schema_name:
        raise UndecodableMessageError(
            f"schema_name is {data.get('schema_name')!r}, expected {schema_name!r}",
            ErrorCode.MESSAGE_MALFORMED,
        )
    found = data.get("schema_version")
    # True == 1 in Python, but a boolean is no version number.
    if isinstance(found, bool) or found != version:
        raise UndecodableMessageError(
            f"{schema_name} major version {found!r} is unknown here (known: {version})",
            ErrorCode.MESSAGE_UNKNOWN_VERSION,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UndecodableMessageError(
            _summarise(exc, f"{schema_name} v{version}"), ErrorCode.MESSAGE_MALFORMED
        ) from exc


def _summarise(exc: ValidationError, what: str) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
        for err in errors[:MAX_REASON_ERRORS]
    ]
    more = f" (+{len(errors) - MAX_REASON_ERRORS} more)" if len(errors) > MAX_REASON_ERRORS else ""
    return f"the body does not match {what}: " + "; ".join(parts) + more
