"""Every URL of the api: public /v1 and /internal as sub-apps with their own auth."""

from aiohttp import web
from texpipe_contracts.internal_api import DEAD_PATH, RESULT_PATH

from texpipe_api.middlewares import service_auth_middleware, tenant_auth_middleware
from texpipe_api.views import docs, events, internal, public

PING_PATH = "/internal/v1/ping"


def public_app() -> web.Application:
    """/v1: needs a tenant token."""
    app = web.Application(middlewares=[tenant_auth_middleware])
    app.router.add_post("/documents", public.create_document)
    app.router.add_get("/documents/{document_id}", public.get_document)
    app.router.add_put("/documents/{document_id}", public.update_document)
    app.router.add_post("/documents/{document_id}/compile", public.compile_document)
    app.router.add_get("/documents/{document_id}/pdf", public.get_pdf)
    app.router.add_get("/documents/{document_id}/events", events.document_events_stream)
    app.router.add_get("/jobs/{job_id}", public.get_job)
    app.router.add_post("/jobs/{job_id}/cancel", public.cancel_job)
    app.router.add_get("/jobs/{job_id}/log", public.get_job_log)
    return app


def internal_app() -> web.Application:
    """/internal: needs the service token (the applier; the post-deploy checks' ping)."""
    app = web.Application(middlewares=[service_auth_middleware])
    app.router.add_post(RESULT_PATH.removeprefix("/internal"), internal.post_result)
    app.router.add_post(DEAD_PATH.removeprefix("/internal"), internal.post_dead)
    app.router.add_post(PING_PATH.removeprefix("/internal"), internal.post_ping)
    return app


def setup_routes(app: web.Application) -> None:
    """Mount everything on the root application (ops routes are added by app.py)."""
    app.router.add_get("/openapi.json", docs.openapi_json)
    app.router.add_get("/docs", docs.docs_page)
    app.add_subapp("/v1", public_app())
    app.add_subapp("/internal", internal_app())
