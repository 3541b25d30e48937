"""The route table's types, and the OpenAPI 3.1 document generated from it.

Every URL the api serves is one :class:`Route` in ``routes.py``: the same entry mounts the
handler and describes the operation, so nothing is served undocumented and nothing documented
is missing. Schemas come from the pydantic models the views validate with
(``model_json_schema``; a parameter's schema from ``TypeAdapter``); problem answers list the
stable ``code`` values of the :class:`~texpipe_api.errors.ApiError` classes a route declares.
"""

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, TypeAdapter
from texpipe_contracts.internal_api import PROBLEM_CONTENT_TYPE, Problem

from texpipe_api.errors import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Method = Literal["GET", "POST", "PUT", "DELETE"]
_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Param:
    """A query or header parameter (path parameters come from the path itself)."""

    name: str
    where: Literal["query", "header"]
    description: str
    type_: Any = str
    """Anything pydantic's ``TypeAdapter`` takes: ``float``, ``Annotated[int, Field(ge=1)]``."""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """One documented answer: a pydantic model as JSON, or another media type, or none."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    media_type: str | None = None
    """Defaults to application/json with a model; ``text/plain``, ``text/event-stream`` ..."""


@dataclass(frozen=True, slots=True)
class Route:
    """One operation: how it is mounted and how the document describes it.

    ``handler`` None means another module mounts it (``/health``, ``/ready``, ``/metrics``
    come from ``texpipe_servicekit.ops.add_ops_routes``); ``documented`` False keeps a page
    or a static file (``/``, ``/docs``) out of the document while still in the table.
    """

    method: Method
    path: str
    handler: Handler | None
    summary: str
    answers: tuple[Answer, ...]
    errors: tuple[type[ApiError], ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    params: tuple[Param, ...] = ()
    description: str = ""
    documented: bool = True
    streamed: tuple[type[BaseModel], ...] = ()
    """Models of what a stream's events carry (Server-Sent Events' data): in the components."""


@dataclass(frozen=True, slots=True)
class RouteGroup:
    """Routes under one prefix with one authentication (a sub-application, or the root)."""

    prefix: str
    tag: str
    description: str
    routes: tuple[Route, ...]
    security: str | None = None
    """The ``securitySchemes`` name its middleware enforces; None: no authentication."""
    errors: tuple[type[ApiError], ...] = ()
    """Answers every route of the group can give (401 from the auth middleware, 503)."""
    middlewares: tuple[Middleware, ...] = ()
    """The sub-application's middlewares (its authentication)."""


SECURITY_SCHEMES: dict[str, Any] = {
    "tenantToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant token (texpipe-api create-token --tenant NAME): /v1.",
    },
    "serviceToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "TEXPIPE_SERVICE_TOKEN: /internal (the applier, post-deploy checks).",
    },
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _path_param(name: str) -> dict[str, Any]:
    what = name.removesuffix("_id").replace("_", " ")
    schema = {"type": "string", "format": "uuid"} if name.endswith("_id") else {"type": "string"}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id" if name.endswith("_id") else what,
        "schema": schema,
    }


def _param(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.where,
        "required": param.required,
        "description": param.description,
        "schema": TypeAdapter(param.type_).json_schema(),
    }


def _answer(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    media = answer.media_type or ("application/json" if answer.model else None)
    if media is not None:
        schema = _ref(answer.model) if answer.model else {"type": "string"}
        if media in {"application/pdf", "application/octet-stream"}:
            schema = {"type": "string", "contentMediaType": media}
        out["content"] = {media: {"schema": schema}}
    return out


def _problems(errors: Iterable[type[ApiError]]) -> dict[str, Any]:
    """One answer per status, its ``code`` an enum of the classes' codes."""
    by_status: dict[int, dict[str, str]] = {}
    for error in errors:
        by_status.setdefault(error.status, {})[error.code] = error.title
    answers = {}
    for status, codes in sorted(by_status.items()):
        schema = {"allOf": [_ref(Problem), {"properties": {"code": {"enum": sorted(codes)}}}]}
        answers[str(status)] = {
            "description": "; ".join(f"{code}: {title}" for code, title in sorted(codes.items())),
            "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
        }
    return answers


def _operation(group: RouteGroup, route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {
        "tags": [group.tag],
        "summary": route.summary,
        "operationId": route.handler.__name__ if route.handler else _operation_id(route),
        "security": [{group.security: []}] if group.security else [],
    }
    if route.description:
        op["description"] = route.description
    params = [_path_param(name) for name in _PATH_PARAM.findall(route.path)]
    params += [_param(p) for p in route.params]
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": _ref(route.body)}},
        }
    answers = {str(a.status): _answer(a) for a in route.answers}
    op["responses"] = answers | _problems((*group.errors, *route.errors))
    return op


def _operation_id(route: Route) -> str:
    return route.method.lower() + re.sub(r"\W+", "_", route.path).rstrip("_")


def _models(groups: Iterable[RouteGroup]) -> list[type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {Problem.__name__: Problem}
    for group in groups:
        for route in group.routes:
            found = [route.body, *(a.model for a in route.answers), *route.streamed]
            models.update({m.__name__: m for m in found if m is not None})
    return [models[name] for name in sorted(models)]


def build_openapi(groups: Iterable[RouteGroup], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``groups`` (their documented routes only)."""
    groups = tuple(groups)
    schemas: dict[str, Any] = {}
    for model in _models(groups):
        schema = model.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    paths: dict[str, dict[str, Any]] = {}
    for group in groups:
        for route in group.routes:
            if route.documented:
                full = group.prefix + route.path
                paths.setdefault(full, {})[route.method.lower()] = _operation(group, route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Keeps the PDFs of LaTeX documents current. Errors are "
            "application/problem+json with a stable 'code'. Try it: the page at /.",
        },
        "tags": [{"name": g.tag, "description": g.description} for g in groups],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def mount(app: web.Application, routes: Iterable[Route]) -> None:
    """Add each route that has a handler to ``app``'s router (paths relative to ``app``)."""
    for route in routes:
        if route.handler is not None:
            app.router.add_route(route.method, route.path, route.handler)
