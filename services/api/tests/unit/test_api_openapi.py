"""The route table serves exactly what the generated OpenAPI document describes, and the
document is valid OpenAPI 3.1."""

from typing import Any

from aiohttp import web
from openapi_spec_validator import validate
from texpipe_api import keys
from texpipe_api.app import create_app
from texpipe_api.config import Settings
from texpipe_api.errors import NotFoundError
from texpipe_api.openapi import Answer, Route, RouteGroup, build_openapi
from texpipe_api.routes import GROUPS, setup_routes
from texpipe_contracts.jobs import JobState


def served_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app factory mounts, sub-apps included (nothing
    connects before the app starts)."""
    app = create_app(Settings(service_token="s" * 16, s3_access_key="k", s3_secret_key="k"))
    routes: set[tuple[str, str]] = set()
    for resource in app.router.resources():
        inner: Any = getattr(resource, "_app", None)  # a mounted sub-application
        for route in inner.router.routes() if inner is not None else resource:
            if route.method != "HEAD":
                routes.add((route.method, route.resource.canonical))
    return routes


def table_routes(*, documented_only: bool) -> set[tuple[str, str]]:
    return {
        (route.method, group.prefix + route.path)
        for group in GROUPS
        for route in group.routes
        if route.documented or not documented_only
    }


def document() -> dict[str, Any]:
    app = web.Application()
    setup_routes(app)
    return app[keys.OPENAPI]


def test_every_served_route_is_in_the_table_and_every_documented_one_in_the_document() -> None:
    assert served_routes() == table_routes(documented_only=False)
    documented = {
        (method.upper(), path)
        for path, operations in document()["paths"].items()
        for method in operations
    }
    assert documented == table_routes(documented_only=True)
    assert ("GET", "/v1/jobs/{job_id}") in documented
    assert ("GET", "/docs") not in documented  # pages and their files are not operations


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document()
    validate(doc)  # openapi-spec-validator: the 3.1 schema, refs resolved
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_problem_answers_list_the_codes_each_route_declares() -> None:
    pdf = document()["paths"]["/v1/documents/{document_id}/pdf"]["get"]
    problem = pdf["responses"]["404"]["content"]["application/problem+json"]["schema"]
    assert problem["allOf"][1]["properties"]["code"]["enum"] == ["NOT_FOUND", "NO_PDF"]
    assert pdf["security"] == [{"tenantToken": []}]
    assert "401" in pdf["responses"]  # from the group's auth middleware
    assert document()["paths"]["/health"]["get"]["security"] == []


def test_models_and_parameters_come_from_pydantic() -> None:
    doc = document()
    job = doc["paths"]["/v1/jobs/{job_id}"]["get"]
    assert job["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobOut"
    }
    wait = next(p for p in job["parameters"] if p["name"] == "wait")
    assert wait["schema"] == {"type": "number", "minimum": 0, "maximum": 60}
    assert {"JobOut", "DiagnosticsOut", "DocumentBody", "Problem"} <= set(
        doc["components"]["schemas"]
    )


async def _handler(_: web.Request) -> web.Response:
    return web.Response()


def test_a_new_route_is_one_entry() -> None:
    """What a helper adding an endpoint writes: one Route; its path parameter is found."""
    group = RouteGroup(
        prefix="/v1",
        tag="v1",
        description="",
        security="tenantToken",
        routes=(
            Route(
                "POST",
                "/jobs/{job_id}/cancel",
                _handler,
                "Cancel a job",
                (Answer(202, "Cancelling"),),
                errors=(NotFoundError,),
            ),
        ),
    )
    doc = build_openapi([group], title="t", version="1")
    validate(doc)
    op = doc["paths"]["/v1/jobs/{job_id}/cancel"]["post"]
    assert op["operationId"] == "_handler"
    assert op["parameters"][0]["name"] == "job_id"
    assert set(op["responses"]) == {"202", "404"}


def test_job_states_are_the_contracts_enum() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["JobState"]["enum"] == [state.value for state in JobState]
    assert {"superseded", "cancelled"} <= set(schemas["JobState"]["enum"])
    assert schemas["JobOut"]["properties"]["state"] == {"$ref": "#/components/schemas/JobState"}
    assert schemas["JobAccepted"]["properties"]["state"] == {
        "$ref": "#/components/schemas/JobState"
    }


def test_event_stream_and_its_events_are_documented() -> None:
    doc = document()
    stream = doc["paths"]["/v1/documents/{document_id}/events"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert {"JobEvent", "RevisionEvent"} <= set(doc["components"]["schemas"])
    assert "409" in doc["paths"]["/v1/jobs/{job_id}/cancel"]["post"]["responses"]
