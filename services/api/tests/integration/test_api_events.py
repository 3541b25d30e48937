"""document.pdf_applied.v1 through the outbox, cancel, and the document event stream (SSE),
against the real PostgreSQL and RabbitMQ."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import aio_pika
import asyncpg
import pytest_asyncio
from aio_pika.abc import AbstractQueue
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from texpipe_api.app import create_app
from texpipe_api.auth import create_token
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.internal_api import STARTED_PATH
from texpipe_contracts.topology import COMPILE_CANCEL_REQUESTED_V1, PDF_APPLIED_V1, Topology
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileErrorInfo,
    CompileStarted,
    Engine,
    Outcome,
    PdfApplied,
)
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.api_calls import HELLO, create_document, update_document
from texpipe_testing.results import post_result, stored_pdf, succeeded

Client = TestClient[Any, Any]


@pytest_asyncio.fixture(loop_scope="session")
async def listener(amqp_url: str, api_topology: Topology) -> AsyncIterator[AbstractQueue]:
    """A platform service's own queue, bound to the events (as docs/events.md shows)."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    for key in (PDF_APPLIED_V1, COMPILE_CANCEL_REQUESTED_V1):
        await queue.bind(api_topology.exchange.name, routing_key=key)
    yield queue
    await connection.close()


async def drained(dsn: str) -> None:
    """Until the relay has published every event row. (Compile requests are left out: other
    tests of the session leave some held behind a job no compiler will finish.)"""
    conn = await asyncpg.connect(dsn)
    unpublished = (
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND kind <> 'compile_requested'"
    )
    try:
        async with asyncio.timeout(20):
            while await conn.fetchval(unpublished):
                await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def received(queue: AbstractQueue) -> list[tuple[str, dict[str, Any]]]:
    """(routing key, body) of every message in ``queue`` now (each published one is there:
    the broker confirmed it after routing it)."""
    found = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        found.append((message.routing_key or "", json.loads(message.body)))
    return found


async def new_document(client: Client, headers: dict[str, str]) -> tuple[str, str]:
    created = await create_document(client, headers, compile=True)
    return created["id"], created["job_id"]


def failed(job: str, doc: str, revision: int) -> CompileCompleted:
    return CompileCompleted(
        job_id=UUID(job),
        document_id=UUID(doc),
        revision=revision,
        outcome=Outcome.FAILED,
        error=CompileErrorInfo(code=ErrorCode.LATEX_ERROR, message="Undefined", file="main.tex"),
        duration_ms=5,
        engine=Engine.PDFLATEX,
        engine_version="test",
    )


async def test_one_pdf_applied_event_per_applied_pdf_none_for_stale_or_failed(
    client: Client,
    api_db: str,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    listener: AbstractQueue,
) -> None:
    doc, job1 = await new_document(client, tenant_a)
    files = {"main.tex": HELLO + "% 2\n"}
    job2 = (await update_document(client, tenant_a, doc, files=files, compile=True))["job_id"]
    pdf = await stored_pdf(s3_store)
    applied = succeeded(job2, doc, 2, pdf)
    assert (await post_result(client, service_headers, applied))[0] == 200
    assert (await post_result(client, service_headers, applied))[1]["status"] == "already_applied"
    stale = succeeded(job1, doc, 1, await stored_pdf(s3_store))
    assert (await post_result(client, service_headers, stale))[0] == 409
    other_doc, other_job = await new_document(client, tenant_a)
    assert (await post_result(client, service_headers, failed(other_job, other_doc, 1)))[0] == 200
    await drained(api_db)
    events = [body for key, body in await received(listener) if key == PDF_APPLIED_V1]
    assert len(events) == 1, events
    event = PdfApplied.model_validate(events[0])
    assert (str(event.job_id), str(event.document_id), event.revision) == (job2, doc, 2)
    assert event.pdf == pdf
    document = await (await client.get(f"/v1/documents/{doc}", headers=tenant_a)).json()
    assert event.applied_at.isoformat().startswith(document["pdf"]["applied_at"][:19])


async def test_cancel_ends_the_job_and_tells_the_compilers(
    client: Client,
    api_db: str,
    tenant_a: dict[str, str],
    tenant_b: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    published: Any,  # conftest.PublishedMessages
    listener: AbstractQueue,
) -> None:
    doc, job = await new_document(client, tenant_a)
    await published.wait_for([UUID(job)])  # its request is out: compilers must hear the cancel
    assert (await client.post(f"/v1/jobs/{job}/cancel", headers=tenant_b)).status == 404
    response = await client.post(f"/v1/jobs/{job}/cancel", headers=tenant_a)
    assert response.status == 200
    assert (await response.json())["state"] == "cancelled"
    again = await client.post(f"/v1/jobs/{job}/cancel", headers=tenant_a)
    problem = await again.json()
    assert (again.status, problem["code"], problem["job_state"]) == (409, "JOB_FINAL", "cancelled")
    assert again.content_type == "application/problem+json"
    # A compiler that never heard of it sends a result: refused like a stale one (acked).
    status, answer = await post_result(
        client, service_headers, succeeded(job, doc, 1, await stored_pdf(s3_store))
    )
    assert (status, answer["code"], answer["job_state"]) == (409, "LATEX_JOB_STALE", "cancelled")
    await drained(api_db)
    cancels = [body for key, body in await received(listener) if key == COMPILE_CANCEL_REQUESTED_V1]
    assert [c["job_id"] for c in cancels] == [job]
    # A final job cannot be cancelled.
    doc2, job2 = await new_document(client, tenant_a)
    await post_result(client, service_headers, succeeded(job2, doc2, 1, await stored_pdf(s3_store)))
    late = await client.post(f"/v1/jobs/{job2}/cancel", headers=tenant_a)
    assert (late.status, (await late.json())["job_state"]) == (409, "applied")


async def test_cancel_before_publishing_withdraws_the_request(
    make_settings: Any, new_database: Any, tenant_a: dict[str, str]
) -> None:
    dsn = await new_database()
    settings = make_settings(dsn, relay_enabled=False)
    async with TestClient(TestServer(create_app(settings))) as quiet:
        conn = await asyncpg.connect(dsn)
        try:
            headers = {"Authorization": f"Bearer {await create_token(conn, 'withdraw')}"}
            _, job = await new_document(quiet, headers)
            assert (await quiet.post(f"/v1/jobs/{job}/cancel", headers=headers)).status == 200
            kinds = await conn.fetch("SELECT kind FROM outbox WHERE job_id = $1", UUID(job))
        finally:
            await conn.close()
    assert kinds == [], "an unpublished request is withdrawn; no cancel needs to go out"


# --- the event stream -----------------------------------------------------------------------


@asynccontextmanager
async def stream(
    client: Client, doc: str, headers: dict[str, str], last: int | None = None
) -> AsyncIterator[ClientResponse]:
    extra = {} if last is None else {"Last-Event-ID": str(last)}
    response = await client.get(f"/v1/documents/{doc}/events", headers={**headers, **extra})
    try:
        yield response
    finally:
        response.close()


async def next_event(response: ClientResponse, timeout: float = 10.0) -> dict[str, Any]:
    """The next event (id, event, data), skipping comments and the retry field."""
    fields: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if not line:
                if "data" in fields:
                    return fields
                continue
            if line.startswith(":"):
                fields.setdefault("comments", 0)
                continue
            name, _, value = line.partition(": ")
            fields[name] = json.loads(value) if name == "data" else value


async def test_the_stream_replays_follows_and_resumes_without_losing_an_event(
    client: Client,
    tenant_a: dict[str, str],
    tenant_b: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
) -> None:
    doc, job1 = await new_document(client, tenant_a)
    async with stream(client, doc, tenant_b) as refused:
        assert refused.status == 404
    async with stream(client, doc, tenant_a) as live:
        assert live.status == 200
        assert live.headers["Content-Type"].startswith("text/event-stream")
        first, second = await next_event(live), await next_event(live)
        assert (first["event"], first["data"]["revision"]) == ("revision", 1)
        assert (second["event"], second["data"]["state"]) == ("job", "queued")
        assert second["data"]["job_id"] == job1
        pdf = await stored_pdf(s3_store)
        await post_result(client, service_headers, succeeded(job1, doc, 1, pdf))
        applied = await next_event(live)
        assert (applied["data"]["state"], applied["data"]["pdf"]["sha256"]) == (
            "applied",
            pdf.sha256,
        )
        last = int(applied["id"])
    # While nobody listens: a new revision that fails, and a cancelled compile.
    files = {"main.tex": HELLO + "% 2\n"}
    job2 = (await update_document(client, tenant_a, doc, files=files, compile=True))["job_id"]
    await post_result(client, service_headers, failed(job2, doc, 2))
    job3 = (await (await client.post(f"/v1/documents/{doc}/compile", headers=tenant_a)).json())[
        "job_id"
    ]
    await client.post(f"/v1/jobs/{job3}/cancel", headers=tenant_a)
    async with stream(client, doc, tenant_a, last=last) as resumed:
        missed = [await next_event(resumed) for _ in range(5)]
    assert [int(e["id"]) for e in missed] == list(range(last + 1, last + 6))
    assert [(e["event"], e["data"].get("state")) for e in missed] == [
        ("revision", None),
        ("job", "queued"),
        ("job", "failed"),
        ("job", "queued"),
        ("job", "cancelled"),
    ]
    assert missed[2]["data"]["error"] == {
        "code": "LATEX_ERROR",
        "message": "Undefined",
        "file": "main.tex",
    }
    assert [e["data"]["job_id"] for e in missed[1:]] == [job2, job2, job3, job3]


async def test_streams_are_bounded_per_tenant_and_send_heartbeats(
    make_settings: Any, api_db: str, tenant_a: dict[str, str], tenant_b: dict[str, str]
) -> None:
    settings = make_settings(
        api_db, relay_enabled=False, max_event_streams_per_tenant=1, event_heartbeat_s=0.2
    )
    async with TestClient(TestServer(create_app(settings))) as small:
        doc_a, _ = await new_document(small, tenant_a)
        doc_b, _ = await new_document(small, tenant_b)
        async with stream(small, doc_a, tenant_a, last=10**6) as held:
            assert held.status == 200
            async with asyncio.timeout(5):
                while b"keepalive" not in await held.content.readline():
                    pass
            async with stream(small, doc_a, tenant_a) as second:
                problem = await second.json(content_type=None)
                assert (second.status, problem["code"]) == (429, "TOO_MANY_STREAMS")
            async with stream(small, doc_b, tenant_b) as other_tenant:
                assert other_tenant.status == 200
        async with stream(small, doc_a, tenant_a, last=-1) as bad:
            assert bad.status == 422


async def post_started(client: Client, headers: dict[str, str], job: str, doc: str) -> Any:
    notice = CompileStarted(
        job_id=UUID(job),
        document_id=UUID(doc),
        revision=1,
        started_at=datetime.now(UTC),
        compiler="test",
    )
    response = await client.post(
        STARTED_PATH.format(job_id=job),
        data=notice.model_dump_json(),
        headers={**headers, "Content-Type": "application/json"},
    )
    return response.status, await response.json()


async def test_a_started_compile_shows_compiling_between_queued_and_applied(
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
) -> None:
    doc, job = await new_document(client, tenant_a)
    async with stream(client, doc, tenant_a) as live:
        assert [(await next_event(live))["event"] for _ in range(2)] == ["revision", "job"]
        assert await post_started(client, service_headers, job, doc) == (
            200,
            {"status": "recorded", "job_state": "queued"},
        )
        compiling = await next_event(live)
        assert (compiling["event"], compiling["data"]["state"]) == ("job", "compiling")
        assert (compiling["data"]["job_id"], compiling["data"]["revision"]) == (job, 1)
        # A redelivered compile starts again: nothing new.
        assert (await post_started(client, service_headers, job, doc))[1]["status"] == "ignored"
        shown = await (await client.get(f"/v1/jobs/{job}", headers=tenant_a)).json()
        assert (shown["state"], shown["started_at"] is not None) == ("queued", True)
        await post_result(
            client, service_headers, succeeded(job, doc, 1, await stored_pdf(s3_store))
        )
        applied = await next_event(live)
        assert (applied["data"]["state"], int(applied["id"])) == (
            "applied",
            int(compiling["id"]) + 1,
        )
    # A late notice for a final job changes nothing; an unknown job is a 404.
    assert await post_started(client, service_headers, job, doc) == (
        200,
        {"status": "ignored", "job_state": "applied"},
    )
    unknown = str(uuid4())
    assert (await post_started(client, service_headers, unknown, doc))[0] == 404
