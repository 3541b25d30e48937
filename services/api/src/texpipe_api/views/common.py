"""Helpers every view uses: bodies into models, path ids, JSON answers."""

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from texpipe_api.errors import InvalidRequestError, NotFoundError

ModelT = TypeVar("ModelT", bound=BaseModel)
_JSON_TYPES = {"application/json", "application/problem+json", "application/octet-stream", ""}


async def parse_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """The JSON body as ``model`` (422 naming the first problem; 413 past client_max_size)."""
    if request.content_type not in _JSON_TYPES and not request.content_type.endswith("+json"):
        raise InvalidRequestError(
            f"send JSON (Content-Type application/json), not {request.content_type}"
        )
    raw = await request.read()
    if not raw.strip():
        raise InvalidRequestError("the request needs a JSON body")
    return model.model_validate_json(raw)


async def parse_optional_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """Like :func:`parse_body`, but no body (or a blank one) means the model's defaults."""
    if not (await request.read()).strip():
        return model.model_validate({})
    return await parse_body(request, model)


def path_uuid(request: web.Request, name: str) -> UUID:
    """A UUID path parameter; anything else names nothing that exists (404)."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFoundError(
            f"no {name.removesuffix('_id')} {request.match_info[name][:64]!r}"
        ) from None


def json_model(model: BaseModel, *, status: int = 200) -> web.Response:
    """``model`` as an application/json answer."""
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


STATIC = Path(__file__).resolve().parents[1] / "static"
"""The page's and the docs' own files, shipped inside the package."""
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def static_file(path: Path, csp: str) -> web.FileResponse:
    """A file shipped with a package, revalidated by ETag, under the policy ``csp``."""
    return web.FileResponse(
        path,
        headers={
            "Content-Type": f"{_TYPES[path.suffix]}; charset=utf-8",
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
        },
    )


def named_static_file(
    request: web.Request, files: Mapping[str, Path], csp: str, kind: str
) -> web.FileResponse:
    """The file ``files`` lists under the route's ``{name}``, as :func:`static_file`; 404
    ``no {kind} file 'NAME'`` for any other name (nothing outside the list is served)."""
    name = request.match_info["name"]
    path = files.get(name)
    if path is None:
        raise NotFoundError(f"no {kind} file {name[:64]!r}")
    return static_file(path, csp)
