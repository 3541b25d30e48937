"""Coalescing through the real services: a burst of edits compiles the first revision and the
newest one; every revision in between ends ``superseded`` without being compiled."""

import asyncio

import aiohttp
from e2e_helpers import Pipeline, busy, create, document, log_events, pdf_text, wait_final
from texpipe_contracts.jobs import JobState

EDITS = 10
# Two seconds of counting on an idle machine (pdfTeX counts about three million a second here;
# 9 s measured on the shared, loaded one): the first revision is still compiling when the
# burst's last edit arrives, and stays well inside the 20 s compile timeout.
ITERATIONS = 6_000_000


async def test_a_burst_of_ten_edits_starts_at_most_two_compiles(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    doc = await create(http, busy(ITERATIONS, "edit 0"), compile=False)
    job_ids = []
    for n in range(1, EDITS + 1):
        async with http.put(
            f"/v1/documents/{doc['id']}",
            json={"files": busy(ITERATIONS, f"edit {n}"), "compile": True},
        ) as response:
            body = await response.json()
            assert response.status == 200, body
        job_ids.append(body["job_id"])
        await asyncio.sleep(0.1)
    jobs = await asyncio.gather(*(wait_final(http, job_id, timeout=120) for job_id in job_ids))
    states = [job["state"] for job in jobs]
    assert states[-1] == JobState.APPLIED, states  # the newest is never dropped
    assert states.count(JobState.SUPERSEDED) >= EDITS - 2, states
    assert set(states[:-1]) <= {JobState.STALE, JobState.SUPERSEDED}, states
    started = {
        e["job_id"]
        for e in log_events(pipeline.services["compiler"], "compile_started")
        if e.get("job_id") in job_ids
    }
    assert len(started) <= 2, started
    assert job_ids[-1] in started
    assert (await document(http, doc["id"]))["pdf"]["revision"] == EDITS + 1
    _, text = await pdf_text(http, doc["id"])
    assert f"Busy edit {EDITS}." in text
