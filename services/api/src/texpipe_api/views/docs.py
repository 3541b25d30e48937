"""/openapi.json and /docs: a self-contained page listing the operations (no CDN assets)."""

import html
import json

from aiohttp import web

from texpipe_api.openapi import openapi_document

_METHODS = ("get", "post", "put", "delete")
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code{background:#f3f3f3;padding:0 .2rem}.m{font-weight:bold;display:inline-block;width:4rem}"
    "li{margin:.4rem 0}details pre{background:#f8f8f8;padding:.5rem;overflow:auto}"
)


async def openapi_json(_: web.Request) -> web.Response:
    """GET /openapi.json"""
    return web.json_response(openapi_document())


def render_docs() -> str:
    """The docs page: every operation with its answers, then the schemas."""
    doc = openapi_document()
    items = []
    for path, ops in doc["paths"].items():
        for method in _METHODS:
            if method in ops:
                op = ops[method]
                answers = ", ".join(op["responses"])
                items.append(
                    f"<li><span class=m>{method.upper()}</span> <code>{html.escape(path)}</code>"
                    f" — {html.escape(op['summary'])} <small>({answers})</small></li>"
                )
    schemas = "".join(
        f"<details><summary>{html.escape(name)}</summary>"
        f"<pre>{html.escape(json.dumps(schema, indent=2))}</pre></details>"
        for name, schema in doc["components"]["schemas"].items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(doc['info']['title'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(doc['info']['title'])} {html.escape(doc['info']['version'])}</h1>"
        f"<p>{html.escape(doc['info']['description'])} Machine-readable: "
        "<a href=/openapi.json>/openapi.json</a> (OpenAPI 3.1).</p>"
        "<p>/v1 needs <code>Authorization: Bearer &lt;tenant token&gt;</code>; /internal needs "
        "the service token.</p>"
        f"<h2>Operations</h2><ul>{''.join(items)}</ul><h2>Schemas</h2>{schemas}</body></html>"
    )


async def docs_page(_: web.Request) -> web.Response:
    """GET /docs"""
    response = web.Response(text=render_docs(), content_type="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
