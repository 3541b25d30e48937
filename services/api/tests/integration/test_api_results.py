"""The internal result endpoint: the stale check, idempotency, S3 verification, dead jobs,
and what a client then sees (status with long-poll, log, PDF)."""

import asyncio
import hashlib
import random
from typing import Any
from uuid import UUID, uuid4

import aiohttp
from aiohttp.test_utils import TestClient
from texpipe_api import keys
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileErrorInfo,
    Diagnostic,
    Diagnostics,
    Engine,
    ObjectRef,
    Outcome,
    PdfRef,
    Severity,
)
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.api_calls import HELLO, create_document, update_document
from texpipe_testing.results import post_result, stored_pdf, succeeded

Client = TestClient[Any, Any]


async def new_document(client: Client, headers: dict[str, str]) -> tuple[str, str]:
    """A document with a compile job for revision 1: (document id, job id)."""
    created = await create_document(client, headers, compile=True)
    return created["id"], created["job_id"]


async def new_revision(client: Client, headers: dict[str, str], doc: str, n: int) -> str:
    """Revision ``n`` of ``doc`` with a compile job; returns the job id."""
    files = {"main.tex": HELLO + f"% {n}\n"}
    updated = await update_document(client, headers, doc, files=files, compile=True)
    assert updated["revision"] == n
    job_id: str = updated["job_id"]
    return job_id


async def document(client: Client, headers: dict[str, str], doc: str) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get(f"/v1/documents/{doc}", headers=headers)).json()
    return body


async def test_result_for_an_old_revision_is_stale(
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    published: Any,
) -> None:
    doc, job1 = await new_document(client, tenant_a)
    # Published first: a job still held unpublished would end 'superseded' instead.
    await published.wait_for([UUID(job1)])
    await new_revision(client, tenant_a, doc, 2)
    status, body = await post_result(
        client, service_headers, succeeded(job1, doc, 1, await stored_pdf(s3_store))
    )
    assert status == 409
    assert body["code"] == ErrorCode.LATEX_JOB_STALE
    assert (await document(client, tenant_a, doc))["pdf"] is None
    job = await (await client.get(f"/v1/jobs/{job1}", headers=tenant_a)).json()
    assert job["state"] == "stale"
    # Redelivered: the same answer, nothing changes.
    status, body = await post_result(
        client, service_headers, succeeded(job1, doc, 1, await stored_pdf(s3_store))
    )
    assert status == 409
    assert body["code"] == ErrorCode.LATEX_JOB_STALE


async def test_late_result_keeps_the_newer_pdf_and_redelivery_applies_once(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job1 = await new_document(client, tenant_a)
    job2 = await new_revision(client, tenant_a, doc, 2)
    pdf2 = await stored_pdf(s3_store)
    result2 = succeeded(job2, doc, 2, pdf2)
    assert await post_result(client, service_headers, result2) == (
        200,
        {"status": "applied", "job_state": "applied"},
    )
    applied_at = (await document(client, tenant_a, doc))["pdf"]["applied_at"]
    # The same result again (a redelivery) and a new message for the same job: applied once.
    assert await post_result(client, service_headers, result2) == (
        200,
        {"status": "already_applied", "job_state": "applied"},
    )
    again = succeeded(job2, doc, 2, await stored_pdf(s3_store))
    assert (await post_result(client, service_headers, again))[1]["status"] == "already_applied"

    status, body = await post_result(
        client, service_headers, succeeded(job1, doc, 1, await stored_pdf(s3_store))
    )
    assert status == 409
    assert body["code"] == ErrorCode.LATEX_JOB_STALE
    pdf = (await document(client, tenant_a, doc))["pdf"]
    assert pdf["revision"] == 2
    assert pdf["sha256"] == pdf2.sha256
    assert pdf["job_id"] == job2
    assert pdf["applied_at"] == applied_at
    assert pdf["pages"] == 1
    assert pdf["size"] == pdf2.size


async def test_fifty_concurrent_results_end_with_the_newest_revision(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, first = await new_document(client, tenant_a)
    jobs = [first] + [await new_revision(client, tenant_a, doc, n) for n in range(2, 51)]
    pdfs = await asyncio.gather(*(stored_pdf(s3_store) for _ in jobs))
    results = [
        succeeded(j, doc, n, pdf)
        for n, (j, pdf) in enumerate(zip(jobs, pdfs, strict=False), start=1)
    ]
    deliveries = results + random.sample(results, 10)  # some redelivered, concurrently
    random.shuffle(deliveries)
    answers = await asyncio.gather(*(post_result(client, service_headers, r) for r in deliveries))

    applied = [a for a in answers if a[0] == 200 and a[1]["status"] == "applied"]
    assert len(applied) == 1
    assert all(a[0] == 200 or a[1]["code"] == ErrorCode.LATEX_JOB_STALE for a in answers)
    pdf = (await document(client, tenant_a, doc))["pdf"]
    assert pdf["revision"] == 50
    assert pdf["sha256"] == pdfs[-1].sha256
    assert pdf["job_id"] == jobs[-1]
    states = [
        (await (await client.get(f"/v1/jobs/{j}", headers=tenant_a)).json())["state"] for j in jobs
    ]
    # Each new revision superseded the previous one's job unless it was published already; a
    # result still reaching a superseded job is refused as stale and changes nothing.
    assert states[-1] == "applied"
    assert set(states[:-1]) <= {"stale", "superseded"}
    assert states.count("superseded") >= 47, states


async def test_pdf_must_be_in_storage_as_stated(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job = await new_document(client, tenant_a)
    data = b"%PDF-1.5\n" + uuid4().bytes
    sha = hashlib.sha256(data).hexdigest()
    pdf = PdfRef(key=f"outputs/{sha}/output.pdf", size=len(data), sha256=sha, pages=2)
    status, body = await post_result(client, service_headers, succeeded(job, doc, 1, pdf))
    assert status == 409
    assert body["code"] == ErrorCode.LATEX_JOB_RESULT_INVALID
    assert "not visible" in body["detail"]

    await s3_store.put(pdf.key, data + b"x", content_type="application/pdf", sha256=sha)
    status, body = await post_result(client, service_headers, succeeded(job, doc, 1, pdf))
    assert status == 409
    assert "bytes" in body["detail"]
    await s3_store.put(pdf.key, data, content_type="application/pdf", sha256="0" * 64)
    status, body = await post_result(client, service_headers, succeeded(job, doc, 1, pdf))
    assert status == 409
    assert "sha256" in body["detail"]

    await s3_store.put(pdf.key, data, content_type="application/pdf", sha256=sha)
    status, body = await post_result(client, service_headers, succeeded(job, doc, 1, pdf))
    assert (status, body["job_state"]) == (200, "applied")


async def test_failure_is_recorded_and_the_document_keeps_its_pdf(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job1 = await new_document(client, tenant_a)
    pdf1 = await stored_pdf(s3_store)
    assert (await post_result(client, service_headers, succeeded(job1, doc, 1, pdf1)))[0] == 200
    job2 = await new_revision(client, tenant_a, doc, 2)
    log_text = b"This is pdfTeX\n./main.tex:4: Undefined control sequence.\n"
    log_key = f"outputs/{uuid4().hex}/output.log"
    await s3_store.put(log_key, log_text, content_type="text/plain")
    failed = CompileCompleted(
        job_id=UUID(job2),
        document_id=UUID(doc),
        revision=2,
        outcome=Outcome.FAILED,
        error=CompileErrorInfo(
            code=ErrorCode.LATEX_ERROR,
            message="Undefined control sequence.",
            file="main.tex",
            line=4,
            excerpt="l.4 \\foo",
        ),
        log=ObjectRef(key=log_key, size=len(log_text)),
        duration_ms=80,
        engine=Engine.PDFLATEX,
        engine_version="pdfTeX 3.14",
    )
    assert await post_result(client, service_headers, failed) == (
        200,
        {"status": "applied", "job_state": "failed"},
    )
    job = await (await client.get(f"/v1/jobs/{job2}", headers=tenant_a)).json()
    assert job["state"] == "failed"
    assert job["log_available"] is True
    assert job["error"] == {
        "code": "LATEX_ERROR",
        "message": "Undefined control sequence.",
        "file": "main.tex",
        "line": 4,
        "excerpt": "l.4 \\foo",
    }
    log = await client.get(f"/v1/jobs/{job2}/log", headers=tenant_a)
    assert log.status == 200
    assert await log.read() == log_text
    assert log.headers["Content-Type"].startswith("text/plain")
    assert log.headers["X-Content-Type-Options"] == "nosniff"
    document_after = await document(client, tenant_a, doc)
    assert document_after["pdf"]["revision"] == 1
    assert document_after["latest_job"]["id"] == job2


async def test_dead_jobs(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job = await new_document(client, tenant_a)
    dead = {"reason": "delivery limit reached", "attempts": 4, "queue": "latex.compile.dlq"}
    url = f"/internal/v1/jobs/{job}/dead"
    response = await client.post(url, json=dead, headers=service_headers)
    assert await response.json() == {"status": "applied", "job_state": "dead"}
    response = await client.post(url, json=dead, headers=service_headers)
    assert await response.json() == {"status": "already_applied", "job_state": "dead"}
    status = await (await client.get(f"/v1/jobs/{job}?wait=5", headers=tenant_a)).json()
    assert status["state"] == "dead"
    assert status["dead_reason"] == "delivery limit reached"

    # A replayed dead letter revives the job; afterwards it stays applied.
    result = succeeded(job, doc, 1, await stored_pdf(s3_store))
    assert (await post_result(client, service_headers, result))[1]["job_state"] == "applied"
    revived = await (await client.get(f"/v1/jobs/{job}", headers=tenant_a)).json()
    assert (revived["state"], revived["dead_reason"]) == ("applied", None)
    response = await client.post(url, json=dead, headers=service_headers)
    assert await response.json() == {"status": "already_applied", "job_state": "applied"}

    response = await client.post(
        f"/internal/v1/jobs/{uuid4()}/dead", json=dead, headers=service_headers
    )
    assert response.status == 404


async def test_internal_endpoint_refuses_wrong_calls(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job = await new_document(client, tenant_a)
    pdf = await stored_pdf(s3_store)
    result = succeeded(job, doc, 1, pdf)
    assert (await post_result(client, {"Authorization": "Bearer wrong"}, result))[0] == 401
    assert (await post_result(client, {}, result))[0] == 401
    status, body = await post_result(client, service_headers, succeeded(str(uuid4()), doc, 1, pdf))
    assert (status, body["code"]) == (404, "NOT_FOUND")
    status, body = await post_result(client, service_headers, succeeded(job, doc, 2, pdf))
    assert (status, body["code"]) == (422, "INVALID_REQUEST")
    response = await client.post(
        f"/internal/v1/jobs/{job}/result",
        json={"job_id": job, "outcome": "succeeded"},
        headers=service_headers,
    )
    assert response.status == 422
    assert (await response.json())["code"] == "INVALID_REQUEST"
    response = await client.post(
        f"/internal/v1/jobs/{uuid4()}/result",
        data=result.model_dump_json(),
        headers=service_headers,
    )
    assert response.status == 422  # the path and the body name different jobs


async def test_long_poll_answers_when_the_job_is_final(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job = await new_document(client, tenant_a)
    waiters = client.server.app[keys.WAITERS]
    short = asyncio.create_task(client.get(f"/v1/jobs/{job}?wait=0.5", headers=tenant_a))
    while waiters.count == 0:  # it waits for the job (an event, not a measured time)...
        await asyncio.sleep(0.01)
    timed_out = await (await short).json()
    assert timed_out["state"] == "queued"  # ...and answers with the state when its wait ends
    assert waiters.count == 0

    pdf = await stored_pdf(s3_store)
    poll = asyncio.create_task(client.get(f"/v1/jobs/{job}?wait=60", headers=tenant_a))
    while waiters.count == 0:  # the long-poll is waiting: now the result arrives
        await asyncio.sleep(0.01)
    await post_result(client, service_headers, succeeded(job, doc, 1, pdf))
    # Woken by the result, not by its 60 s running out (the test's own timeout is shorter).
    answer = await asyncio.wait_for(poll, 30)
    assert (await answer.json())["state"] == "applied"


async def test_pdf_redirects_to_storage_or_streams_as_attachment(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job = await new_document(client, tenant_a)
    content = b"%PDF-1.5\n" + uuid4().bytes * 100 + b"\n%%EOF\n"
    pdf = await stored_pdf(s3_store, content)
    assert (await post_result(client, service_headers, succeeded(job, doc, 1, pdf)))[0] == 200

    response = await client.get(f"/v1/documents/{doc}/pdf", headers=tenant_a, allow_redirects=False)
    assert response.status == 302
    async with aiohttp.ClientSession() as session, session.get(response.headers["Location"]) as s3:
        assert s3.status == 200
        assert await s3.read() == content

    response = await client.get(f"/v1/documents/{doc}/pdf?download=1", headers=tenant_a)
    assert response.status == 200
    assert await response.read() == content
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{doc}-r1.pdf"'
    assert "sandbox" in response.headers["Content-Security-Policy"]


async def test_an_unchanged_revision_is_not_compiled_twice(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job1 = await new_document(client, tenant_a)
    # While the first job is still queued, a second request for the same revision joins it.
    response = await client.post(f"/v1/documents/{doc}/compile", headers=tenant_a)
    assert response.status == 202
    assert (await response.json())["job_id"] == job1
    result = succeeded(job1, doc, 1, await stored_pdf(s3_store))
    assert (await post_result(client, service_headers, result))[0] == 200
    # Once the revision's PDF is applied, a resubmit answers with the job that applied it.
    response = await client.post(f"/v1/documents/{doc}/compile", headers=tenant_a)
    body = await response.json()
    assert response.status == 202
    assert (body["job_id"], body["state"]) == (job1, "applied")
    # A new revision gets a new job.
    job2 = await new_revision(client, tenant_a, doc, 2)
    assert job2 != job1
    response = await client.post(f"/v1/documents/{doc}/compile", headers=tenant_a)
    assert (await response.json())["job_id"] == job2


async def test_a_results_diagnostics_are_kept_on_its_job(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    doc, job1 = await new_document(client, tenant_a)
    queued = await (await client.get(f"/v1/jobs/{job1}", headers=tenant_a)).json()
    assert queued["diagnostics"] is None
    listed = Diagnostics(
        items=[
            Diagnostic(
                severity=Severity.WARNING,
                file="chapters/chapter one.tex",
                line=12,
                message="Citation `lamport1978' on page 1 undefined on input line 12.",
            ),
            Diagnostic(
                severity=Severity.BADBOX,
                file="main.tex",
                line=4,
                message="Overfull \\hbox (79.6698pt too wide) detected at line 4",
            ),
            Diagnostic(severity=Severity.WARNING, message="There were undefined references."),
        ],
        omitted=5,
    )
    result = succeeded(job1, doc, 1, await stored_pdf(s3_store), diagnostics=listed)
    assert (await post_result(client, service_headers, result))[0] == 200
    job = await (await client.get(f"/v1/jobs/{job1}", headers=tenant_a)).json()
    assert job["diagnostics"] == listed.model_dump(mode="json")
    assert job["diagnostics"]["items"][2] == {
        "severity": "warning",
        "file": None,
        "line": None,
        "message": "There were undefined references.",
    }
    assert (await document(client, tenant_a, doc))["latest_job"]["diagnostics"]["omitted"] == 5
    # A result without them (a cache hit recorded before they existed): none, not stale ones.
    job2 = await new_revision(client, tenant_a, doc, 2)
    assert (
        await post_result(
            client, service_headers, succeeded(job2, doc, 2, await stored_pdf(s3_store))
        )
    )[0] == 200
    assert (await (await client.get(f"/v1/jobs/{job2}", headers=tenant_a)).json())[
        "diagnostics"
    ] is None
