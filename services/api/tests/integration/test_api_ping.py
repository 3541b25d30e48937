"""POST /internal/v1/ping: the test plays compiler and applier (it takes the compile request
from the api's queue and posts a result), then checks every stage; timeouts name the stage."""

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from texpipe_api import ping
from texpipe_api.app import create_app
from texpipe_api.auth import PING_TENANT, create_token
from texpipe_api.config import Settings
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileErrorInfo,
    CompileRequested,
    Engine,
    Outcome,
    PdfRef,
)
from texpipe_servicekit.s3 import S3Store

Client = TestClient[Any, Any]
PING = "/internal/v1/ping"
STAGES = ["accepted_ms", "published_ms", "compile_ms", "applied_ms"]


async def ping_requests(
    published: Any, before: set[UUID], count: int, dsn: str
) -> list[CompileRequested]:
    """The next ``count`` compile requests of the ping tenant to reach the queue."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(1000):
            new = [job for job in published.by_job if job not in before]
            ours = await conn.fetch(
                "SELECT j.id FROM jobs j JOIN tenants t ON t.id = j.tenant_id"
                " WHERE j.id = ANY($1::uuid[]) AND t.name = $2",
                new,
                PING_TENANT,
            )
            if len(ours) >= count:
                jobs = sorted(row["id"] for row in ours)
                return [
                    CompileRequested.model_validate_json(published.by_job[job][0].body)
                    for job in jobs
                ]
            await asyncio.sleep(0.005)
    finally:
        await conn.close()
    raise AssertionError("the ping's compile request never reached the queue")


async def compiled(s3: S3Store, request: CompileRequested, **fields: Any) -> CompileCompleted:
    """What the compiler would publish for ``request``: a PDF in S3, unless told otherwise."""
    if "outcome" not in fields:
        data = b"%PDF-1.5\n" + uuid4().bytes + b"\n%%EOF\n"
        sha = hashlib.sha256(data).hexdigest()
        key = f"outputs/{sha}/output.pdf"
        await s3.put(key, data, content_type="application/pdf", sha256=sha)
        fields = {
            "outcome": Outcome.SUCCEEDED,
            "pdf": PdfRef(key=key, size=len(data), sha256=sha, pages=1),
        }
    return CompileCompleted(
        job_id=request.job_id,
        document_id=request.document_id,
        revision=request.revision,
        duration_ms=150,
        engine=Engine.PDFLATEX,
        engine_version="pdfTeX 3.14",
        **fields,
    )


async def apply(client: Client, headers: dict[str, str], result: CompileCompleted) -> None:
    """What the applier does with a result."""
    response = await client.post(
        f"/internal/v1/jobs/{result.job_id}/result",
        data=result.model_dump_json(),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status == 200, await response.text()


async def answer(response: ClientResponse) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = await response.json(content_type=None)
    return response.status, body


async def test_pings_through_the_whole_pipeline_answer_every_stage(
    client: Client,
    service_headers: dict[str, str],
    published: Any,
    s3_store: S3Store,
    api_db: str,
) -> None:
    before = set(published.by_job)
    pings = [
        asyncio.create_task(client.post(PING, json={"timeout_s": 10}, headers=service_headers))
        for _ in range(2)
    ]
    requests = await ping_requests(published, before, 2, api_db)
    # Overlapping pings get documents of their own: neither makes the other's result stale.
    assert requests[0].document_id != requests[1].document_id
    # The nonce: every ping is a new source, so the compiler's cache cannot answer it.
    assert requests[0].source.sha256 != requests[1].source.sha256
    for request in requests:
        await apply(client, service_headers, await compiled(s3_store, request))
    for task in pings:
        status, body = await answer(await task)
        assert status == 200, body
        assert body["status"] == "ok"
        assert UUID(body["job_id"]) in {r.job_id for r in requests}
        stages = body["stages"]
        assert list(stages) == STAGES
        assert stages["compile_ms"] == 150
        assert 0 < stages["accepted_ms"] <= stages["published_ms"] <= stages["applied_ms"]
        assert stages["applied_ms"] <= body["total_ms"] < 10_000

    # One at a time, pings reuse a document: a new revision of the first one.
    before = set(published.by_job)
    third = asyncio.create_task(client.post(PING, headers=service_headers))  # no body
    (request,) = await ping_requests(published, before, 1, api_db)
    earlier = {r.document_id: r.revision for r in requests}
    assert request.revision == earlier[request.document_id] + 1
    await apply(client, service_headers, await compiled(s3_store, request))
    status, body = await answer(await third)
    assert status == 200, body

    conn = await asyncpg.connect(api_db)
    try:
        tenants = await conn.fetchval("SELECT count(*) FROM tenants WHERE name = $1", PING_TENANT)
        tokens = await conn.fetchval(
            "SELECT count(*) FROM api_tokens a JOIN tenants t ON t.id = a.tenant_id"
            " WHERE t.name = $1",
            PING_TENANT,
        )
    finally:
        await conn.close()
    assert (tenants, tokens) == (1, 0)


async def test_a_failed_compile_answers_502_with_the_state_and_error(
    client: Client,
    service_headers: dict[str, str],
    published: Any,
    s3_store: S3Store,
    api_db: str,
) -> None:
    before = set(published.by_job)
    ping = asyncio.create_task(client.post(PING, json={"timeout_s": 10}, headers=service_headers))
    (request,) = await ping_requests(published, before, 1, api_db)
    error = CompileErrorInfo(code=ErrorCode.LATEX_ERROR, message="Undefined control sequence.")
    result = await compiled(s3_store, request, outcome=Outcome.FAILED, error=error)
    await apply(client, service_headers, result)
    status, body = await answer(await ping)
    assert status == 502, body
    assert body["code"] == "PING_FAILED"
    assert body["state"] == "failed"
    assert body["error"] == {"code": "LATEX_ERROR", "message": "Undefined control sequence."}
    assert body["job_id"] == str(request.job_id)
    assert set(body["stages"]) == {"accepted_ms", "published_ms", "compile_ms"}


async def test_a_ping_keeps_only_the_latest_revisions_of_its_document(
    client: Client,
    service_headers: dict[str, str],
    published: Any,
    s3_store: S3Store,
    api_db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ping, "KEEP_REVISIONS", 1)
    error = CompileErrorInfo(code=ErrorCode.LATEX_ERROR, message="x")
    for _ in range(2):
        before = set(published.by_job)
        task = asyncio.create_task(client.post(PING, headers=service_headers))
        (request,) = await ping_requests(published, before, 1, api_db)
        result = await compiled(s3_store, request, outcome=Outcome.FAILED, error=error)
        await apply(client, service_headers, result)
        assert (await task).status == 502
    conn = await asyncpg.connect(api_db)
    try:
        kept = await conn.fetch(
            "SELECT revision FROM revisions WHERE document_id = $1", request.document_id
        )
        jobs = await conn.fetchval(
            "SELECT count(*) FROM jobs WHERE document_id = $1", request.document_id
        )
    finally:
        await conn.close()
    assert [row["revision"] for row in kept] == [request.revision]
    assert jobs == 1


async def test_no_result_in_time_is_504_naming_the_applied_stage(
    client: Client, service_headers: dict[str, str]
) -> None:
    response = await client.post(PING, json={"timeout_s": 0.5}, headers=service_headers)
    status, body = await answer(response)
    assert status == 504, body
    assert response.content_type == "application/problem+json"
    assert body["code"] == "PING_TIMEOUT"
    assert body["stage"] == "applied"
    assert set(body["stages"]) == {"accepted_ms", "published_ms"}
    assert body["stages"]["published_ms"] < 500
    UUID(body["job_id"])


async def test_an_unsent_outbox_row_is_504_naming_the_published_stage(
    new_database: Callable[[], Any],
    make_settings: Callable[..., Settings],
    service_headers: dict[str, str],
) -> None:
    # Two apps on a fresh database, relays off: also the first use of the ping tenant, by two
    # processes at once.
    settings = make_settings(await new_database(), relay_enabled=False)
    async with (
        TestClient(TestServer(create_app(settings))) as one,
        TestClient(TestServer(create_app(settings))) as two,
    ):
        responses = await asyncio.gather(
            *(c.post(PING, json={"timeout_s": 0.3}, headers=service_headers) for c in (one, two))
        )
        for response in responses:
            status, body = await answer(response)
            assert status == 504, body
            assert body["stage"] == "published"
            assert list(body["stages"]) == ["accepted_ms"]
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        tenants = await conn.fetchval("SELECT count(*) FROM tenants WHERE name = $1", PING_TENANT)
        documents = await conn.fetchval("SELECT count(*) FROM documents")
    finally:
        await conn.close()
    assert (tenants, documents) == (1, 2)


@pytest.mark.parametrize(
    ("body", "status"), [({"timeout_s": 121}, 422), ({"timeout_s": 0}, 422), ({"x": 1}, 422)]
)
async def test_bad_ping_bodies_are_refused(
    client: Client, service_headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    response = await client.post(PING, json=body, headers=service_headers)
    assert response.status == status
    assert (await response.json(content_type=None))["code"] == "INVALID_REQUEST"


async def test_the_ping_needs_the_service_token(client: Client, tenant_a: dict[str, str]) -> None:
    for headers in ({}, tenant_a):
        response = await client.post(PING, headers=headers)
        assert response.status == 401


async def test_no_token_can_be_made_for_the_ping_tenant(api_db: str) -> None:
    conn = await asyncpg.connect(api_db)
    try:
        with pytest.raises(ValueError, match="reserved"):
            await create_token(conn, PING_TENANT)
    finally:
        await conn.close()
