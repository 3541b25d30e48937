"""Every URL of the api, each declared once: the same entry mounts it and documents it.

Public /v1 and /internal are sub-apps with their own auth middleware; the ops routes, the
docs and the page to try it sit on the root. ``setup_routes`` mounts the table and keeps the
OpenAPI document generated from it (``openapi.py``) on the app for ``/openapi.json``.
"""

from typing import Annotated

from aiohttp import web
from pydantic import Field
from texpipe_contracts.internal_api import (
    DEAD_PATH,
    RESULT_PATH,
    STARTED_PATH,
    MarkDead,
    ResultAnswer,
    StartedAnswer,
)
from texpipe_contracts.v1 import CompileCompleted, CompileStarted

from texpipe_api import keys
from texpipe_api.errors import (
    BodyTooLargeError,
    DependencyUnavailableError,
    InvalidRequestError,
    JobFinalError,
    JobStaleError,
    LogTooLargeError,
    MainFileAmbiguousError,
    MainFileMissingError,
    NoLogError,
    NoOutputFileError,
    NoPdfError,
    NoSynctexError,
    NotFoundError,
    PageOutOfRangeError,
    PathRuleViolationError,
    PdfTooLargeError,
    PingFailedError,
    PingTimeoutError,
    ResultInvalidError,
    RevisionMismatchError,
    SourceTooLargeError,
    SynctexFailedError,
    SynctexNoMatchError,
    TooManyFilesError,
    TooManyStreamsError,
    UnauthorizedError,
)
from texpipe_api.middlewares import service_auth_middleware, tenant_auth_middleware
from texpipe_api.openapi import Answer, Param, Route, RouteGroup, build_openapi, mount
from texpipe_api.schemas import (
    DocumentBody,
    DocumentCreated,
    DocumentOut,
    JobAccepted,
    JobEvent,
    JobOut,
    OutputsOut,
    PingAnswer,
    PingRequest,
    RevisionEvent,
    SynctexPdfOut,
    SynctexSourceOut,
)
from texpipe_api.views import docs, events, internal, outputs, page, public, synctex

PING_PATH = "/internal/v1/ping"
_INVALID = (InvalidRequestError,)
_BODY = (
    BodyTooLargeError,
    TooManyFilesError,
    SourceTooLargeError,
    InvalidRequestError,
    PathRuleViolationError,
    MainFileMissingError,
    MainFileAmbiguousError,
)

PUBLIC = RouteGroup(
    prefix="/v1",
    tag="v1",
    description="Documents, revisions and compile jobs of the token's tenant.",
    security="tenantToken",
    errors=(UnauthorizedError, DependencyUnavailableError),
    middlewares=(tenant_auth_middleware,),
    routes=(
        Route(
            "POST",
            "/documents",
            public.create_document,
            "Create a document (and compile it with compile: true)",
            (Answer(201, "The document (Location: /v1/documents/{id})", DocumentCreated),),
            errors=_BODY,
            body=DocumentBody,
        ),
        Route(
            "GET",
            "/documents/{document_id}",
            public.get_document,
            "A document, its PDF and latest job",
            (Answer(200, "The document (ETag: its revision)", DocumentOut),),
            errors=(NotFoundError,),
        ),
        Route(
            "PUT",
            "/documents/{document_id}",
            public.update_document,
            "A new revision (If-Match: <revision>)",
            (Answer(200, "The new revision", DocumentCreated),),
            errors=(NotFoundError, RevisionMismatchError, *_BODY),
            body=DocumentBody,
            params=(Param("If-Match", "header", "The revision this update replaces"),),
        ),
        Route(
            "POST",
            "/documents/{document_id}/compile",
            public.compile_document,
            "Enqueue a compile of the current revision",
            (Answer(202, "The job to poll (Location: /v1/jobs/{id})", JobAccepted),),
            errors=(NotFoundError, *_INVALID),
            params=(Param("Idempotency-Key", "header", "Same key, same job (1-200 chars)"),),
            description="Answers with a job by one rule, with or without a key: the job this key"
            " was answered with before; else, when the current revision's PDF is applied, the job"
            " that applied it; else the document's latest job when it is queued for the current"
            " revision; else a new queued job. A new job supersedes the document's older jobs"
            " still waiting to be published (they end 'superseded', never compiled), and waits"
            " while the document's previous compile is in flight.",
        ),
        Route(
            "GET",
            "/documents/{document_id}/pdf",
            public.get_pdf,
            "The applied PDF: 302 to a short-lived URL; ?download=1 streams it here",
            (
                Answer(302, "Location: a presigned URL of the PDF"),
                Answer(200, "With ?download=1: the PDF, as an attachment", None, "application/pdf"),
            ),
            errors=(NotFoundError, NoPdfError, PdfTooLargeError),
            params=(Param("download", "query", "1: stream the bytes instead of redirecting"),),
        ),
        Route(
            "GET",
            "/jobs/{job_id}",
            public.get_job,
            "A job; ?wait=N answers as soon as it is final, or after N seconds",
            (Answer(200, "The job", JobOut),),
            errors=(NotFoundError, *_INVALID),
            params=(
                Param(
                    "wait",
                    "query",
                    "Seconds to wait for a final state (long-poll)",
                    Annotated[float, Field(ge=0, le=60)],
                ),
            ),
        ),
        Route(
            "GET",
            "/documents/{document_id}/events",
            events.document_events_stream,
            "The document's events as Server-Sent Events",
            (Answer(200, "The event stream", None, "text/event-stream"),),
            errors=(NotFoundError, *_INVALID, TooManyStreamsError),
            params=(
                Param("Last-Event-ID", "header", "Resume after this event id"),
                Param("after", "query", "Start after this event id", int),
            ),
            description="Each event has an 'id' (numbered per document, without gaps), 'event:"
            " job' (data: JobEvent: a job was queued or reached a state: applied, failed with its"
            " first error, stale, superseded, cancelled, ...) or 'event: revision' (data:"
            " RevisionEvent), one line of JSON. It sends every event after Last-Event-ID (or"
            " ?after=N; absent: from the first event kept), then each new one as it is committed;"
            " ': keepalive' comment lines every event_heartbeat_s. 429 TOO_MANY_STREAMS past"
            " max_event_streams_per_tenant open streams.",
            streamed=(JobEvent, RevisionEvent),
        ),
        Route(
            "POST",
            "/jobs/{job_id}/cancel",
            public.cancel_job,
            "Cancel a queued or compiling job: it ends 'cancelled'",
            (Answer(200, "The cancelled job", JobOut),),
            errors=(NotFoundError, *_INVALID, JobFinalError),
            description="A compile in progress is stopped (its sandbox killed). 409 JOB_FINAL"
            " when the job is already final, with its 'job_state'.",
        ),
        Route(
            "GET",
            "/jobs/{job_id}/log",
            public.get_job_log,
            "The compile log",
            (Answer(200, "The log as TeX wrote it", None, "text/plain"),),
            errors=(NotFoundError, NoLogError, LogTooLargeError),
        ),
        Route(
            "GET",
            "/jobs/{job_id}/outputs",
            outputs.list_outputs,
            "The job's output files (PDF, log, SyncTeX, .bbl), with download paths",
            (Answer(200, "The output files (none until the job has a result)", OutputsOut),),
            errors=(NotFoundError,),
        ),
        Route(
            "GET",
            "/jobs/{job_id}/outputs/{name}",
            outputs.get_output,
            "One output file, as an attachment",
            (Answer(200, "The file's bytes", None, "application/octet-stream"),),
            errors=(NotFoundError, NoOutputFileError),
            description="The name is one the job lists (e.g. main.pdf, main.log,"
            " main.synctex.gz, main.bbl), percent-encoded in the path.",
        ),
        Route(
            "GET",
            "/documents/{document_id}/synctex/pdf",
            synctex.pdf_to_source,
            "SyncTeX, PDF -> source: the project file and line that typeset a point",
            (Answer(200, "The file (a project path), line and column", SynctexSourceOut),),
            errors=(
                NotFoundError,
                NoPdfError,
                NoSynctexError,
                SynctexNoMatchError,
                PageOutOfRangeError,
                *_INVALID,
                SynctexFailedError,
            ),
            params=(
                Param("page", "query", "1-based page of the applied PDF", int, required=True),
                Param("x", "query", "Points (1/72 in) from the page's left edge", float, True),
                Param("y", "query", "Points (1/72 in) from the page's top edge", float, True),
            ),
            description="About the document's applied PDF (the answer names its revision).",
        ),
        Route(
            "GET",
            "/documents/{document_id}/synctex/code",
            synctex.source_to_pdf,
            "SyncTeX, source -> PDF: the boxes of the applied PDF that a line typeset",
            (Answer(200, "The boxes, the closest first", SynctexPdfOut),),
            errors=(
                NotFoundError,
                NoPdfError,
                NoSynctexError,
                SynctexNoMatchError,
                *_INVALID,
                SynctexFailedError,
            ),
            params=(
                Param("file", "query", "A project path, e.g. chapters/intro.tex", str, True),
                Param("line", "query", "1-based line", int, required=True),
                Param("column", "query", "1-based column; 0 or absent: any", int),
            ),
            description="Boxes in PDF points from the page's top-left corner: h is the left"
            " edge, v the baseline; a box spans h..h+width and v-height..v.",
        ),
    ),
)

INTERNAL = RouteGroup(
    prefix="/internal",
    tag="internal",
    description="For the applier and post-deploy checks (the service token).",
    security="serviceToken",
    errors=(UnauthorizedError, DependencyUnavailableError),
    middlewares=(service_auth_middleware,),
    routes=(
        Route(
            "POST",
            RESULT_PATH.removeprefix("/internal"),
            internal.post_result,
            "Take a compile result (the stale check)",
            (Answer(200, "Applied, or already applied", ResultAnswer),),
            errors=(NotFoundError, JobStaleError, ResultInvalidError, *_INVALID),
            body=CompileCompleted,
        ),
        Route(
            "POST",
            STARTED_PATH.removeprefix("/internal"),
            internal.post_started,
            "A compiler began the job (a progress signal)",
            (Answer(200, "Recorded, or nothing to do (already started, or final)", StartedAnswer),),
            errors=(NotFoundError, *_INVALID),
            body=CompileStarted,
            description="Sets the job's started_at once while it is queued, and the document's"
            " event stream shows the job 'compiling'. A job already started or final is left"
            " as it is ('ignored').",
        ),
        Route(
            "POST",
            DEAD_PATH.removeprefix("/internal"),
            internal.post_dead,
            "Mark a queued job dead",
            (Answer(200, "The job is dead", ResultAnswer),),
            errors=(NotFoundError, *_INVALID),
            body=MarkDead,
        ),
        Route(
            "POST",
            PING_PATH.removeprefix("/internal"),
            internal.post_ping,
            "The enqueue ping: a built-in document through the whole pipeline, timed",
            (Answer(200, "Every stage answered", PingAnswer),),
            errors=(PingFailedError, PingTimeoutError, *_INVALID),
            body=PingRequest,
            body_required=False,
            description="For post-deploy checks. 502 PING_FAILED: the job ended in another"
            " state ('state', 'error'); 504 PING_TIMEOUT: 'stage' (published or applied)"
            " was not reached within timeout_s. Both carry 'job_id' and the 'stages' reached.",
        ),
    ),
)

# Mounted by texpipe_servicekit.ops.add_ops_routes (app.py), documented here.
OPS = RouteGroup(
    prefix="",
    tag="ops",
    description="Probes and metrics (no authentication).",
    routes=(
        Route("GET", "/health", None, "The process is up", (Answer(200, "ok"),)),
        Route(
            "GET",
            "/ready",
            None,
            "PostgreSQL, RabbitMQ and S3 reachable",
            (Answer(200, "ready"), Answer(503, "NOT_READY: the detail names what failed")),
        ),
        Route(
            "GET",
            "/metrics",
            None,
            "Prometheus metrics",
            (Answer(200, "The text exposition format", None, "text/plain"),),
        ),
    ),
)

PAGES = RouteGroup(
    prefix="",
    tag="docs",
    description="This document, its Swagger UI at /docs, and the page to try texpipe at /.",
    routes=(
        Route(
            "GET",
            "/openapi.json",
            docs.openapi_json,
            "This document (OpenAPI 3.1, generated from the route table)",
            (Answer(200, "The document", None, "application/json"),),
        ),
        Route("GET", "/docs", docs.docs_page, "Swagger UI", (), documented=False),
        Route("GET", "/docs/{name}", docs.docs_asset, "Swagger UI's files", (), documented=False),
        Route("GET", "/", page.index, "The page to try texpipe", (), documented=False),
        Route("GET", "/page/{name}", page.asset, "The page's files", (), documented=False),
    ),
)

GROUPS = (PUBLIC, INTERNAL, OPS, PAGES)
TITLE, VERSION = "texpipe api", "1.0.0"


def setup_routes(app: web.Application) -> None:
    """Mount every group on the root application and keep the document generated from them."""
    app[keys.OPENAPI] = build_openapi(GROUPS, title=TITLE, version=VERSION)
    for group in GROUPS:
        if group.prefix:
            sub = web.Application(middlewares=group.middlewares)
            mount(sub, group.routes)
            app.add_subapp(group.prefix, sub)
        else:
            mount(app, group.routes)
