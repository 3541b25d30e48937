"""/openapi.json, and Swagger UI at /docs from the files of the swagger-ui-py package.

Only Swagger UI's bundle and stylesheet are taken from that package (found without importing
it); the page and the script that starts Swagger UI are ours (``static/docs.html``,
``static/docs.js``), so the page needs no inline script and loads nothing from elsewhere.
"""

from importlib.util import find_spec
from pathlib import Path

from aiohttp import web

from texpipe_api import keys
from texpipe_api.views.common import STATIC, named_static_file, static_file

# Swagger UI sets styles through the DOM (allowed without 'unsafe-inline') and its stylesheet
# draws icons from data: URLs; the browser test fails on any violation of this policy.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self';"
    " img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)


def _swagger_ui_static() -> Path:
    spec = find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is missing (a dependency of texpipe-api)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


_SWAGGER = _swagger_ui_static()
_ASSETS = {
    "swagger-ui-bundle.js": _SWAGGER / "swagger-ui-bundle.js",
    "swagger-ui.css": _SWAGGER / "swagger-ui.css",
    "docs.js": STATIC / "docs.js",
}


async def openapi_json(request: web.Request) -> web.Response:
    """GET /openapi.json: the document generated from the route table (routes.py)."""
    return web.json_response(request.config_dict[keys.OPENAPI])


async def docs_page(_: web.Request) -> web.FileResponse:
    """GET /docs: Swagger UI over /openapi.json; "Try it out" calls this same origin."""
    return static_file(STATIC / "docs.html", DOCS_CSP)


async def docs_asset(request: web.Request) -> web.FileResponse:
    """GET /docs/{name}: one of the few files the docs page loads (404 for anything else)."""
    return named_static_file(request, _ASSETS, DOCS_CSP, "docs")
