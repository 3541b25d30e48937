"""The public /v1 API (tenant bearer token; see middlewares.tenant_auth_middleware)."""

import structlog
from aiohttp import web

from texpipe_api import documents, jobs, keys
from texpipe_api.errors import (
    InvalidRequestError,
    NoPdfError,
    PdfTooLargeError,
    s3_read_errors,
)
from texpipe_api.middlewares import tenant_of
from texpipe_api.schemas import DocumentBody, JobAccepted
from texpipe_api.views.common import json_model, parse_body, path_uuid

log = structlog.get_logger(__name__)

MAX_IDEMPOTENCY_KEY = 200
# A PDF may carry JavaScript and actions: a downloaded one must not run in our origin.
PDF_CSP = "default-src 'none'; sandbox"


async def create_document(request: web.Request) -> web.Response:
    """POST /v1/documents"""
    body = await parse_body(request, DocumentBody)
    created = await documents.create_document(
        request.config_dict[keys.DOCUMENT_DEPS], tenant_of(request), body
    )
    response = json_model(created, status=201)
    response.headers["Location"] = f"/v1/documents/{created.id}"
    response.headers["ETag"] = f'"{created.revision}"'
    return response


def _if_match(request: web.Request) -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()):
        raise InvalidRequestError("If-Match must be a revision number, e.g. If-Match: 3")
    return int(value)


async def update_document(request: web.Request) -> web.Response:
    """PUT /v1/documents/{document_id}"""
    document_id = path_uuid(request, "document_id")
    if_match = _if_match(request)
    body = await parse_body(request, DocumentBody)
    updated = await documents.update_document(
        request.config_dict[keys.DOCUMENT_DEPS],
        tenant_of(request),
        document_id,
        body,
        if_match=if_match,
    )
    response = json_model(updated)
    response.headers["ETag"] = f'"{updated.revision}"'
    return response


async def get_document(request: web.Request) -> web.Response:
    """GET /v1/documents/{document_id}"""
    document = await documents.get_document(
        request.config_dict[keys.PG_POOL], tenant_of(request), path_uuid(request, "document_id")
    )
    response = json_model(document)
    response.headers["ETag"] = f'"{document.revision}"'
    return response


async def compile_document(request: web.Request) -> web.Response:
    """POST /v1/documents/{document_id}/compile"""
    document_id = path_uuid(request, "document_id")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidRequestError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    row = await jobs.submit_compile(
        request.config_dict[keys.BATCHER],
        request.config_dict[keys.PG_POOL],
        tenant_of(request),
        document_id,
        key,
    )
    log.debug("compile_accepted", job_id=str(row["id"]), document_id=str(document_id))
    response = json_model(JobAccepted(job_id=row["id"], state=row["state"]), status=202)
    response.headers["Location"] = f"/v1/jobs/{row['id']}"
    return response


def _wait_seconds(request: web.Request, limit: float) -> float:
    raw = request.query.get("wait")
    if raw is None:
        return 0.0
    try:
        wait = float(raw)
    except ValueError:
        raise InvalidRequestError("wait must be a number of seconds") from None
    if not 0 <= wait <= limit:
        raise InvalidRequestError(f"wait must be between 0 and {limit:g} seconds")
    return wait


async def get_job(request: web.Request) -> web.Response:
    """GET /v1/jobs/{job_id}?wait=N"""
    settings = request.config_dict[keys.SETTINGS]
    wait = _wait_seconds(request, settings.max_wait_s)
    job_id = path_uuid(request, "job_id")
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        job = await jobs.wait_for_job(
            request.config_dict[keys.PG_POOL],
            request.config_dict[keys.WAITERS],
            tenant_of(request),
            job_id,
            wait,
        )
    return json_model(job)


async def cancel_job(request: web.Request) -> web.Response:
    """POST /v1/jobs/{job_id}/cancel"""
    job_id = path_uuid(request, "job_id")
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        job = await jobs.cancel_job(request.config_dict[keys.PG_POOL], tenant_of(request), job_id)
        log.info("job_cancelled", document_id=str(job.document_id))
    return json_model(job)


async def get_job_log(request: web.Request) -> web.Response:
    """GET /v1/jobs/{job_id}/log"""
    job_id = path_uuid(request, "job_id")
    with structlog.contextvars.bound_contextvars(job_id=str(job_id)):
        data = await jobs.read_log(
            request.config_dict[keys.PG_POOL],
            request.config_dict[keys.S3],
            tenant_of(request),
            job_id,
            request.config_dict[keys.SETTINGS].max_log_bytes,
        )
    response = web.Response(body=data, content_type="text/plain", charset="utf-8")
    # The log holds text the document chose: never let a browser interpret it.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = PDF_CSP
    return response


async def get_pdf(request: web.Request) -> web.StreamResponse:
    """GET /v1/documents/{document_id}/pdf[?download=1]"""
    document_id = path_uuid(request, "document_id")
    key, revision = await documents.pdf_key(
        request.config_dict[keys.PG_POOL], tenant_of(request), document_id
    )
    s3 = request.config_dict[keys.S3]
    filename = f"{document_id}-r{revision}.pdf"
    if request.query.get("download") not in {"1", "true"}:
        url = await s3.presigned_get(
            key,
            expires_s=request.config_dict[keys.SETTINGS].presign_expires_s,
            download_name=filename,
        )
        raise web.HTTPFound(url, headers={"Cache-Control": "no-store"})
    return await stream_pdf(request, key, filename)


async def stream_pdf(request: web.Request, key: str, filename: str) -> web.StreamResponse:
    """The PDF's bytes as an attachment, under a CSP that forbids everything."""
    max_bytes = request.config_dict[keys.SETTINGS].max_pdf_bytes
    with s3_read_errors(
        "the PDF",
        too_large=PdfTooLargeError(f"the PDF is larger than {max_bytes} bytes (max_pdf_bytes)"),
        missing=NoPdfError("the PDF is no longer stored"),
    ):
        return await stream_attachment(
            request,
            key,
            max_bytes=max_bytes,
            content_type="application/pdf",
            disposition=f'attachment; filename="{filename}"',
        )


async def stream_attachment(
    request: web.Request, key: str, *, max_bytes: int, content_type: str, disposition: str
) -> web.StreamResponse:
    """The S3 object ``key`` streamed as an attachment (``disposition``), private, under
    :data:`PDF_CSP` (a PDF or log holds the document's text). Raises what ``S3Store.stream``
    raises (``ObjectTooLargeError`` past ``max_bytes``, botocore errors): wrap the call in
    :func:`~texpipe_api.errors.s3_read_errors`."""
    response = web.StreamResponse(
        headers={
            "Content-Type": content_type,
            "Content-Disposition": disposition,
            "Content-Security-Policy": PDF_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        }
    )
    async with request.config_dict[keys.S3].stream(key, max_bytes=max_bytes) as (size, chunks):
        response.content_length = size
        await response.prepare(request)
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response
