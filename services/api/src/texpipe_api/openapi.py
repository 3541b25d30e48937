"""The OpenAPI 3.1 document of the api, built from the same pydantic models the views parse."""

from functools import cache
from typing import Any

from pydantic import BaseModel
from texpipe_contracts.internal_api import MarkDead, Problem, ResultAnswer
from texpipe_contracts.v1 import CompileCompleted

from texpipe_api.schemas import (
    DocumentBody,
    DocumentCreated,
    DocumentOut,
    JobAccepted,
    JobEvent,
    JobOut,
    PingAnswer,
    PingRequest,
    RevisionEvent,
)

_MODELS: tuple[type[BaseModel], ...] = (
    DocumentBody,
    DocumentCreated,
    DocumentOut,
    JobAccepted,
    JobOut,
    JobEvent,
    RevisionEvent,
    CompileCompleted,
    ResultAnswer,
    MarkDead,
    PingRequest,
    PingAnswer,
    Problem,
)
_REF = "#/components/schemas/{model}"


def _json(model: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}}


def _problems(*statuses: int) -> dict[str, Any]:
    content = {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}}
    return {str(s): {"description": "problem details", "content": content} for s in statuses}


def _op(summary: str, ok: tuple[int, str | None], *errors: int, **extra: Any) -> dict[str, Any]:
    status, model = ok
    response: dict[str, Any] = {"description": summary}
    if model:
        response |= _json(model)
    return {"summary": summary, "responses": {str(status): response, **_problems(*errors)}, **extra}


def _param(name: str, where: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


_DOC = _param("document_id", "path", "Document id", type="string", format="uuid")
_JOB = _param("job_id", "path", "Job id", type="string", format="uuid")
_TENANT: list[dict[str, list[str]]] = [{"tenantToken": []}]
_SERVICE: list[dict[str, list[str]]] = [{"serviceToken": []}]


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (computed once)."""
    schemas: dict[str, Any] = {}
    for model in _MODELS:
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    body = {"requestBody": {"required": True, **_json("DocumentBody")}}
    paths = {
        "/v1/documents": {
            "post": _op("Create a document", (201, "DocumentCreated"), 401, 413, 422, **body)
        },
        "/v1/documents/{document_id}": {
            "parameters": [_DOC],
            "get": _op("A document, its PDF and latest job", (200, "DocumentOut"), 401, 404),
            "put": _op(
                "A new revision (If-Match: <revision>)",
                (200, "DocumentCreated"),
                401,
                404,
                412,
                413,
                422,
                parameters=[_param("If-Match", "header", "The revision this update replaces")],
                **body,
            ),
        },
        "/v1/documents/{document_id}/compile": {
            "parameters": [_DOC],
            "post": _op(
                "Enqueue a compile of the current revision",
                (202, "JobAccepted"),
                401,
                404,
                422,
                parameters=[_param("Idempotency-Key", "header", "Same key, same job")],
                description="Answers with a job by one rule, with or without a key: the job"
                " this key was answered with before; else, when the current revision's PDF is"
                " applied, the job that applied it; else the document's latest job when it is"
                " queued for the current revision; else a new queued job. A new job supersedes"
                " the document's older jobs still waiting to be published (they end"
                " 'superseded', never compiled), and waits while the document's previous"
                " compile is in flight.",
            ),
        },
        "/v1/documents/{document_id}/pdf": {
            "parameters": [_DOC],
            "get": _op(
                "302 to a short-lived URL of the PDF; ?download=1 streams it as an attachment",
                (302, None),
                401,
                404,
                parameters=[_param("download", "query", "1: stream the bytes")],
            ),
        },
        "/v1/jobs/{job_id}": {
            "parameters": [_JOB],
            "get": _op(
                "A job; ?wait=N answers as soon as it is final, or after N seconds",
                (200, "JobOut"),
                401,
                404,
                422,
                parameters=[_param("wait", "query", "Seconds, 0-60", type="number")],
            ),
        },
        "/v1/documents/{document_id}/events": {
            "parameters": [_DOC],
            "get": _op(
                "The document's events as Server-Sent Events (text/event-stream)",
                (200, None),
                401,
                404,
                422,
                429,
                description="Each event has an 'id' (numbered per document, without gaps),"
                " 'event: job' (data: JobEvent: a job was queued or reached a state: applied,"
                " failed with its first error, stale, cancelled, ...) or 'event: revision'"
                " (data: RevisionEvent), one line of JSON. It sends every event after"
                " Last-Event-ID (or ?after=N; absent: from the first event kept), then each new"
                " one as it is committed; ': keepalive' comment lines every event_heartbeat_s."
                " 429 TOO_MANY_STREAMS past max_event_streams_per_tenant open streams.",
                parameters=[
                    _param("Last-Event-ID", "header", "Resume after this event id"),
                    _param("after", "query", "Start after this event id", type="integer"),
                ],
            ),
        },
        "/v1/jobs/{job_id}/cancel": {
            "parameters": [_JOB],
            "post": _op(
                "Cancel a queued or compiling job: it ends 'cancelled'",
                (200, "JobOut"),
                401,
                404,
                409,
                description="A compile in progress is stopped (its sandbox killed). 409"
                " JOB_FINAL when the job is already final, with its 'job_state'.",
            ),
        },
        "/v1/jobs/{job_id}/log": {
            "parameters": [_JOB],
            "get": _op("The compile log (text/plain)", (200, None), 401, 404),
        },
        "/internal/v1/jobs/{job_id}/result": {
            "parameters": [_JOB],
            "post": _op(
                "Take a compile result (the stale check)",
                (200, "ResultAnswer"),
                401,
                404,
                409,
                422,
                security=_SERVICE,
                requestBody={"required": True, **_json("CompileCompleted")},
            ),
        },
        "/internal/v1/jobs/{job_id}/dead": {
            "parameters": [_JOB],
            "post": _op(
                "Mark a queued job dead",
                (200, "ResultAnswer"),
                401,
                404,
                422,
                security=_SERVICE,
                requestBody={"required": True, **_json("MarkDead")},
            ),
        },
        "/internal/v1/ping": {
            "post": _op(
                "The enqueue ping: a built-in document through the whole pipeline, timed",
                (200, "PingAnswer"),
                401,
                422,
                502,
                503,
                504,
                description="For post-deploy checks. 502 PING_FAILED: the job ended in another"
                " state ('state', 'error'); 504 PING_TIMEOUT: 'stage' (published or applied)"
                " was not reached within timeout_s. Both carry 'job_id' and the 'stages' reached.",
                security=_SERVICE,
                requestBody={"required": False, **_json("PingRequest")},
            ),
        },
        "/health": {"get": _op("The process is up", (200, None), security=[])},
        "/ready": {
            "get": _op("PostgreSQL, RabbitMQ and S3 reachable", (200, None), 503, security=[])
        },
        "/metrics": {"get": _op("Prometheus metrics", (200, None), security=[])},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "texpipe api",
            "version": "1.0.0",
            "description": "Keeps the PDFs of LaTeX documents current. Errors are "
            "application/problem+json with a stable 'code'.",
        },
        "security": _TENANT,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "tenantToken": {"type": "http", "scheme": "bearer"},
                "serviceToken": {"type": "http", "scheme": "bearer"},
            },
        },
    }
