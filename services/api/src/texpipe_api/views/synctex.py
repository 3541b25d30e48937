"""GET /v1/documents/{document_id}/synctex/{pdf,code}: SyncTeX on the applied PDF."""

import math

from aiohttp import web

from texpipe_api import keys, synctex
from texpipe_api.errors import InvalidRequestError
from texpipe_api.middlewares import tenant_of
from texpipe_api.views.common import json_model, path_uuid

MAX_COORDINATE = 14400.0
"""The largest page side PDF allows, in points (200 inches; ISO 32000-1, annex C)."""
MAX_LINE = 10_000_000


def _number(request: web.Request, name: str, *, low: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        raise InvalidRequestError(f"'{name}' is required")
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequestError(f"'{name}' must be a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidRequestError(f"'{name}' must be between {low:g} and {high:g}")
    return value


def _integer(
    request: web.Request, name: str, *, low: int, high: int, default: int | None = None
) -> int:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise InvalidRequestError(f"'{name}' is required")
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidRequestError(f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)


async def pdf_to_source(request: web.Request) -> web.Response:
    """GET /v1/documents/{document_id}/synctex/pdf?page=&x=&y= (points from the top-left)"""
    document_id = path_uuid(request, "document_id")
    page = _integer(request, "page", low=1, high=1_000_000)
    x = _number(request, "x", low=0, high=MAX_COORDINATE)
    y = _number(request, "y", low=0, high=MAX_COORDINATE)
    answer = await synctex.pdf_to_source(
        request.config_dict[keys.SYNCTEX_DEPS], tenant_of(request), document_id, page=page, x=x, y=y
    )
    return json_model(answer)


async def source_to_pdf(request: web.Request) -> web.Response:
    """GET /v1/documents/{document_id}/synctex/code?file=&line=&column="""
    document_id = path_uuid(request, "document_id")
    file = request.query.get("file")
    if not file:
        raise InvalidRequestError("'file' is required: a project path such as chapters/intro.tex")
    line = _integer(request, "line", low=1, high=MAX_LINE)
    column = _integer(request, "column", low=0, high=MAX_LINE, default=0)
    answer = await synctex.source_to_pdf(
        request.config_dict[keys.SYNCTEX_DEPS],
        tenant_of(request),
        document_id,
        file=file,
        line=line,
        column=column,
    )
    return json_model(answer)
