"""GET /v1/documents/{document_id}/events: the document's events as Server-Sent Events."""

import asyncpg
import structlog
from aiohttp import web

from texpipe_api import document_events, documents, keys, metrics
from texpipe_api.errors import InvalidRequestError
from texpipe_api.middlewares import tenant_of
from texpipe_api.views.common import path_uuid

log = structlog.get_logger(__name__)

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Proxies that buffer answers (nginx) would hold the events back.
    "X-Accel-Buffering": "no",
}


def _after(request: web.Request) -> int:
    """Where the stream starts: after the ``Last-Event-ID`` header (a reconnecting
    EventSource sends it), else after ``?after=N``, else from the document's first event."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InvalidRequestError("Last-Event-ID (or after) must be an event id, e.g. 42")
    return int(raw)


async def document_events_stream(request: web.Request) -> web.StreamResponse:
    """GET /v1/documents/{document_id}/events"""
    document_id = path_uuid(request, "document_id")
    tenant_id = tenant_of(request)
    after = _after(request)
    pool = request.config_dict[keys.PG_POOL]
    await documents.get_document(pool, tenant_id, document_id)  # 404 for another tenant's
    response = web.StreamResponse(headers=_SSE_HEADERS)
    with (
        request.config_dict[keys.STREAM_SLOTS].hold(tenant_id),
        structlog.contextvars.bound_contextvars(document_id=str(document_id)),
        metrics.EVENT_STREAMS.track_inprogress(),
    ):
        await response.prepare(request)
        await response.write(document_events.opening(after))
        try:
            await document_events.follow(
                pool,
                request.config_dict[keys.DOCUMENT_WAITERS],
                document_id,
                after=after,
                send=response.write,
                heartbeat_s=request.config_dict[keys.SETTINGS].event_heartbeat_s,
            )
        except ConnectionError:
            return response  # the client went away: nothing left to send
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The answer has begun: end it; the client resumes with Last-Event-ID.
            log.warning("event_stream_ended", error=f"{type(exc).__name__}: {exc}"[:300])
            return response
    await response.write_eof()
    return response
