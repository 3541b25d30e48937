"""The api's answers the CLI reads, parsed from plain JSON and checked on the way in.

The CLI does not import the api's schemas (it talks HTTP only); it reads the few fields it
needs and ignores the rest, so the api may add fields freely. A job's state stays a string: a
state this CLI does not know (from a newer api) is shown as it is, and is not final.
"""

import json
from dataclasses import dataclass
from typing import TypeVar

from texpipe_contracts.jobs import JobState, is_final

from texpipe_cli.errors import ServiceError

LATEX_FAILURES = frozenset({JobState.FAILED, JobState.TIMED_OUT, JobState.REJECTED})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class JobError:
    """Why a job made no PDF (from the compile log, so untrusted text)."""

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    excerpt: str = ""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """An error, warning or bad box of the compile log (untrusted text, like JobError)."""

    severity: str
    message: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A compile job as ``GET /v1/jobs/{id}`` shows it."""

    id: str
    document_id: str
    revision: int
    state: str
    engine: str = ""
    error: JobError | None = None
    duration_ms: int | None = None
    engine_version: str | None = None
    cache_hit: bool | None = None
    dead_reason: str | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    diagnostics_omitted: int = 0
    """How many more the log held than the api lists (it keeps at most 200)."""

    @property
    def final(self) -> bool:
        """The job will not change any more by itself."""
        return is_final(self.state)


@dataclass(frozen=True, slots=True)
class Created:
    """Answer to a create or a new revision."""

    id: str
    revision: int
    job_id: str | None
    main: str | None


def _opt(obj: dict[str, object], name: str, kind: type[T]) -> T | None:
    value = obj.get(name)
    if value is None:
        return None
    # bool is an int in Python: an int field must not take true/false.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ServiceError(f"unexpected answer from the api: {name!r} is {value!r}")
    return value


def _req(obj: dict[str, object], name: str, kind: type[T]) -> T:
    value = _opt(obj, name, kind)
    if value is None:
        raise ServiceError(f"unexpected answer from the api: {name!r} is missing")
    return value


def _object(raw: object, what: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise ServiceError(f"unexpected answer from the api: {what} is not a JSON object")
    return raw


def _diagnostics(raw: object) -> tuple[tuple[Diagnostic, ...], int]:
    """(entries, how many were left out) of a job's ``diagnostics``; none when absent."""
    if raw is None:
        return (), 0
    obj = _object(raw, "the job's diagnostics")
    items = obj.get("items")
    if not isinstance(items, list):
        raise ServiceError("unexpected answer from the api: 'items' is not a list")
    entries = []
    for item in items:
        entry = _object(item, "a diagnostic")
        entries.append(
            Diagnostic(
                severity=_req(entry, "severity", str),
                message=_req(entry, "message", str),
                file=_opt(entry, "file", str),
                line=_opt(entry, "line", int),
            )
        )
    return tuple(entries), _opt(obj, "omitted", int) or 0


def parse_job(raw: object) -> Job:
    """A job from its JSON."""
    obj = _object(raw, "the job")
    error = None
    if obj.get("error") is not None:
        err = _object(obj["error"], "the job's error")
        error = JobError(
            code=_req(err, "code", str),
            message=_req(err, "message", str),
            file=_opt(err, "file", str),
            line=_opt(err, "line", int),
            excerpt=_opt(err, "excerpt", str) or "",
        )
    diagnostics, omitted = _diagnostics(obj.get("diagnostics"))
    return Job(
        id=_req(obj, "id", str),
        document_id=_req(obj, "document_id", str),
        revision=_req(obj, "revision", int),
        state=_req(obj, "state", str),
        engine=_opt(obj, "engine", str) or "",
        error=error,
        duration_ms=_opt(obj, "duration_ms", int),
        engine_version=_opt(obj, "engine_version", str),
        cache_hit=_opt(obj, "cache_hit", bool),
        dead_reason=_opt(obj, "dead_reason", str),
        diagnostics=diagnostics,
        diagnostics_omitted=omitted,
    )


def parse_created(raw: object) -> Created:
    """The answer to ``POST /v1/documents`` or ``PUT /v1/documents/{id}``."""
    obj = _object(raw, "the document")
    return Created(
        id=_req(obj, "id", str),
        revision=_req(obj, "revision", int),
        job_id=_opt(obj, "job_id", str),
        main=_opt(obj, "main", str),
    )


@dataclass(frozen=True, slots=True)
class DocumentEvent:
    """One event of ``GET /v1/documents/{id}/events``: a new revision (``kind`` revision) or
    a job's state (``kind`` job). Text from a compile log (the error) is untrusted."""

    id: int
    kind: str
    revision: int
    at: str = ""
    job_id: str | None = None
    state: str | None = None
    main: str | None = None
    engine: str | None = None
    error: JobError | None = None
    pages: int | None = None
    size: int | None = None


def parse_event(event_id: str | None, kind: str, data: str) -> DocumentEvent:
    """An SSE event of the document stream from its id, type and JSON data."""
    if event_id is None or not event_id.isdigit():
        raise ServiceError(f"unexpected event from the api: id {event_id!r}")
    try:
        obj = _object(json.loads(data), "the event")
    except ValueError as exc:
        raise ServiceError("unexpected event from the api: its data is not JSON") from exc
    error = None
    if obj.get("error") is not None:
        err = _object(obj["error"], "the event's error")
        error = JobError(
            code=_req(err, "code", str),
            message=_opt(err, "message", str) or "",
            file=_opt(err, "file", str),
            line=_opt(err, "line", int),
        )
    pdf = _object(obj["pdf"], "the event's pdf") if obj.get("pdf") is not None else {}
    return DocumentEvent(
        id=int(event_id),
        kind=kind,
        revision=_req(obj, "revision", int),
        at=_opt(obj, "at", str) or "",
        job_id=_opt(obj, "job_id", str),
        state=_opt(obj, "state", str),
        main=_opt(obj, "main", str),
        engine=_opt(obj, "engine", str),
        error=error,
        pages=_opt(pdf, "pages", int),
        size=_opt(pdf, "size", int),
    )


def parse_job_id(raw: object) -> str:
    """The job id of ``POST /v1/documents/{id}/compile`` (202)."""
    return _req(_object(raw, "the compile answer"), "job_id", str)
