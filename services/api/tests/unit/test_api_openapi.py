"""The OpenAPI document lists exactly the routes the app serves."""

from typing import Any

from aiohttp import web
from texpipe_api.openapi import openapi_document
from texpipe_api.routes import setup_routes
from texpipe_api.views.docs import render_docs
from texpipe_contracts.jobs import JobState


def served_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the sub-apps (their paths include the prefix)."""
    app = web.Application()
    setup_routes(app)
    routes = set()
    for resource in app.router.resources():
        inner: Any = getattr(resource, "_app", None)  # a mounted sub-application
        if inner is None:
            continue
        for route in inner.router.routes():
            if route.method != "HEAD":
                routes.add((route.method.lower(), route.resource.canonical))
    return routes


def test_every_served_route_is_documented() -> None:
    documented = {
        (method, path)
        for path, ops in openapi_document()["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "delete"}
    }
    served = served_routes()
    assert len(served) == 12
    assert served <= documented
    for path, ops in openapi_document()["paths"].items():
        for method, op in ops.items():
            if method != "parameters":
                assert op["responses"], (method, path)


def test_docs_page_is_self_contained() -> None:
    page = render_docs()
    assert "<script" not in page
    assert "/v1/jobs/{job_id}" in page


def test_job_states_are_the_contracts_enum() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["JobState"]["enum"] == [state.value for state in JobState]
    assert "superseded" in schemas["JobState"]["enum"]
    assert schemas["JobOut"]["properties"]["state"] == {"$ref": "#/components/schemas/JobState"}
    assert schemas["JobAccepted"]["properties"]["state"] == {
        "$ref": "#/components/schemas/JobState"
    }
