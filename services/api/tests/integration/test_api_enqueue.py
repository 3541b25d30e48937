"""One way into the queue (enqueue_queries.py): the reuse rule, idempotency keys under
concurrency, coalescing (superseded, held rows), and the job states the schema admits."""

import asyncio
import re
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from aiohttp.test_utils import TestClient
from texpipe_api.config import Settings
from texpipe_api.db import enqueue_queries
from texpipe_api.db.enqueue_queries import CompileRequest
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.jobs import JobState
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.api_calls import HELLO, create_document, update_document
from texpipe_testing.results import post_result, stored_pdf, succeeded

Client = TestClient[Any, Any]


def unique_files() -> dict[str, str]:
    """A main.tex no other document has (no cache hit, no unchanged revision)."""
    return {"main.tex": HELLO + f"% {uuid4()}\n"}


async def create(client: Client, headers: dict[str, str], *, compile: bool) -> dict[str, Any]:
    return await create_document(client, headers, files=unique_files(), compile=compile)


async def revise(client: Client, headers: dict[str, str], doc: str, *, compile: bool) -> Any:
    updated = await update_document(client, headers, doc, files=unique_files(), compile=compile)
    return updated["job_id"]


async def compile_(
    client: Client, headers: dict[str, str], doc: str, key: str | None = None
) -> Any:
    extra = {"Idempotency-Key": key} if key else {}
    response = await client.post(f"/v1/documents/{doc}/compile", headers={**headers, **extra})
    assert response.status == 202
    return await response.json()


async def job(client: Client, headers: dict[str, str], job_id: str, wait: int = 0) -> Any:
    response = await client.get(f"/v1/jobs/{job_id}?wait={wait}", headers=headers)
    assert response.status == 200
    return await response.json()


async def test_keyed_and_unkeyed_requests_follow_one_reuse_rule(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc = await create(client, tenant_a, compile=True)
    job1 = doc["job_id"]
    # Queued for the current revision: keyed or not, the request joins that job.
    assert (await compile_(client, tenant_a, doc["id"], "k1"))["job_id"] == job1
    result = succeeded(job1, doc["id"], 1, await stored_pdf(s3_store))
    assert (await post_result(client, service_headers, result))[0] == 200
    # Applied: both answer with the applying job (a keyed one used to compile again, stale).
    for key in (None, "k2", "k1"):
        answer = await compile_(client, tenant_a, doc["id"], key)
        assert (answer["job_id"], answer["state"]) == (job1, "applied"), key
    # A new revision: a new key makes a new job; a key seen before still names its job.
    await revise(client, tenant_a, doc["id"], compile=False)
    assert (await compile_(client, tenant_a, doc["id"], "k2"))["job_id"] == job1
    job2 = (await compile_(client, tenant_a, doc["id"], "k3"))["job_id"]
    assert job2 != job1
    assert (await compile_(client, tenant_a, doc["id"]))["job_id"] == job2


async def test_concurrent_requests_for_one_revision_share_one_job(
    client: Client, tenant_a: dict[str, str]
) -> None:
    doc = await create(client, tenant_a, compile=False)
    keys = [None, "same", None, "same", "other"] * 8
    answers = await asyncio.gather(*(compile_(client, tenant_a, doc["id"], k) for k in keys))
    assert len({a["job_id"] for a in answers}) == 1


async def test_a_key_recorded_by_a_concurrent_transaction_answers_with_its_job(
    api_db: str, client: Client, tenant_a: dict[str, str]
) -> None:
    doc = UUID((await create(client, tenant_a, compile=False))["id"])
    a, b = await asyncpg.connect(api_db), await asyncpg.connect(api_db)
    try:
        tenant = await a.fetchval("SELECT tenant_id FROM documents WHERE id = $1", doc)

        def request() -> CompileRequest:
            return CompileRequest(uuid4(), uuid4(), doc, tenant, "raced")

        tx = a.transaction()
        await tx.start()
        first = await enqueue_queries.enqueue(a, [request()], timeout_ms=1000)
        # B waits for A's transaction (the document's row lock), then answers with A's job.
        second = asyncio.create_task(enqueue_queries.enqueue(b, [request()], timeout_ms=1000))
        blocked = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
        async with asyncio.timeout(30):
            while not await a.fetchval(blocked, b.get_server_pid()):
                await asyncio.sleep(0.01)
        await tx.commit()
        (row,) = await second
        assert first[0]["settled"]
        assert row["settled"]
        assert row["id"] == first[0]["id"]
        earlier = await enqueue_queries.job_for_key(
            b, document_id=doc, tenant_id=tenant, key="raced"
        )
        assert earlier is not None
        assert earlier["id"] == first[0]["id"]
        # B made no job of its own.
        assert await b.fetchval("SELECT count(*) FROM jobs WHERE document_id = $1", doc) == 1
    finally:
        await a.close()
        await b.close()


async def in_flight(
    client: Client, headers: dict[str, str], published: Any
) -> tuple[dict[str, Any], str]:
    """A new document whose first compile request is published (in flight): (document,
    job id)."""
    doc = await create(client, headers, compile=True)
    await published.wait_for([UUID(doc["job_id"])])
    return doc, doc["job_id"]


async def test_a_newer_request_supersedes_a_held_job_and_the_newest_waits_for_the_running_one(
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    published: Any,
) -> None:
    doc, job1 = await in_flight(client, tenant_a, published)
    job2 = await revise(client, tenant_a, doc["id"], compile=True)  # held behind job1
    poll = asyncio.create_task(job(client, tenant_a, job2, wait=30))
    job3 = await revise(client, tenant_a, doc["id"], compile=True)  # supersedes job2
    started = asyncio.get_running_loop().time()
    superseded = await poll
    assert superseded["state"] == JobState.SUPERSEDED
    assert superseded["finished_at"] is not None
    assert asyncio.get_running_loop().time() - started < 20  # woken, not timed out
    # A later row of another document is published: the relay has passed job3, held.
    sentinel = (await create(client, tenant_a, compile=True))["job_id"]
    await published.wait_for([UUID(sentinel)])
    assert UUID(job3) not in published.by_job
    # job1's result (stale: the document moved on) frees the document: job3 goes out.
    result = succeeded(job1, doc["id"], 1, await stored_pdf(s3_store))
    status, answer = await post_result(client, service_headers, result)
    assert (status, answer["code"]) == (409, ErrorCode.LATEX_JOB_STALE)
    await published.wait_for([UUID(job3)])
    assert UUID(job2) not in published.by_job
    # A result reaching a superseded job changes nothing and is not retried.
    late = succeeded(job2, doc["id"], 2, await stored_pdf(s3_store))
    status, answer = await post_result(client, service_headers, late)
    assert (status, answer["code"]) == (409, ErrorCode.LATEX_JOB_STALE)
    assert (await job(client, tenant_a, job2))["state"] == JobState.SUPERSEDED


async def test_the_newest_request_of_a_burst_goes_out_once_the_edits_pause(
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    published: Any,
    api_settings: Settings,
) -> None:
    settle = api_settings.relay_settle_s
    assert settle > 0
    doc, job1 = await in_flight(client, tenant_a, published)
    await revise(client, tenant_a, doc["id"], compile=True)  # held behind job1
    job3 = await revise(client, tenant_a, doc["id"], compile=True)  # supersedes it: a burst
    requested = asyncio.get_running_loop().time()
    # job1 ends at once: the document is free, but its burst has not paused yet.
    result = succeeded(job1, doc["id"], 1, await stored_pdf(s3_store))
    assert (await post_result(client, service_headers, result))[0] == 409
    await published.wait_for([UUID(job3)])
    waited = asyncio.get_running_loop().time() - requested
    # Out once settled, woken for it (not at the relay's next sweep).
    assert settle * 0.9 <= waited < settle + api_settings.relay_sweep_s / 2, waited


async def test_a_document_edited_without_pause_still_gets_a_compile(
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    published: Any,
    api_settings: Settings,
) -> None:
    doc, job1 = await in_flight(client, tenant_a, published)
    # A burst begins: the second edit supersedes the first, held behind job1.
    jobs = [await revise(client, tenant_a, doc["id"], compile=True) for _ in range(2)]
    started = asyncio.get_running_loop().time()
    result = succeeded(job1, doc["id"], 1, await stored_pdf(s3_store))
    assert (await post_result(client, service_headers, result))[0] == 409
    # Edits 100 ms apart that never pause: the settle rule holds each newest request, but
    # not past the settle maximum after the document's last compile went out.
    deadline = started + api_settings.relay_settle_max_s + 1.5
    while not any(UUID(j) in published.by_job for j in jobs):
        assert asyncio.get_running_loop().time() < deadline, "no compile while edits go on"
        jobs.append(await revise(client, tenant_a, doc["id"], compile=True))
        await asyncio.sleep(0.1)
    waited = asyncio.get_running_loop().time() - started
    assert api_settings.relay_settle_s < waited, waited  # held while settling, then out


async def test_the_schema_admits_exactly_the_contracts_job_states(api_db: str) -> None:
    conn = await asyncpg.connect(api_db)
    try:
        checks = await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint"
            " WHERE conrelid = 'jobs'::regclass AND contype = 'c'"
        )
    finally:
        await conn.close()
    (definition,) = [c["def"] for c in checks if "state" in c["def"]]
    assert set(re.findall(r"'(\w+)'", definition)) == {state.value for state in JobState}
