"""GET /: the page to try texpipe in a browser (plain HTML, JS and CSS in ``static/``).

The page calls the public /v1 API from the same origin with the token the person types (kept
in sessionStorage); the PDF is fetched with that token and shown from a ``blob:`` URL in the
browser's own viewer, so the only frame source the policy allows is ``blob:``.
"""

from aiohttp import web

from texpipe_api.views.common import STATIC, named_static_file, static_file

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " frame-src blob:; img-src 'self' data:; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'"
)
_ASSETS = {"page.js": STATIC / "page.js", "page.css": STATIC / "page.css"}


async def index(_: web.Request) -> web.FileResponse:
    """GET /"""
    return static_file(STATIC / "index.html", PAGE_CSP)


async def asset(request: web.Request) -> web.FileResponse:
    """GET /page/{name}: the page's script and stylesheet (404 for anything else)."""
    return named_static_file(request, _ASSETS, PAGE_CSP, "page")
