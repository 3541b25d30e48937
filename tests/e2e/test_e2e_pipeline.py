"""One system: api -> outbox -> RabbitMQ -> compiler -> S3 -> compiled -> applier -> api."""

import asyncio
import subprocess
from pathlib import Path

import aiohttp
import pytest
from e2e_helpers import (
    COMPILE_TIMEOUT_MS,
    Pipeline,
    create,
    document,
    manifest,
    pdf_text,
    project_files,
    update,
    variant,
    wait_final,
    wait_for_event,
)
from texpipe_contracts.jobs import FINAL_STATES


async def test_the_corpus_gives_its_expected_outcomes(
    http: aiohttp.ClientSession, pipeline: Pipeline, corpus: Path
) -> None:
    documents = manifest(corpus)
    created = {name: await create(http, project_files(corpus / name)) for name in documents}
    jobs = dict(
        zip(
            created,
            await asyncio.gather(*(wait_final(http, c["job_id"]) for c in created.values())),
            strict=True,
        )
    )
    for name, spec in documents.items():
        expect = spec["expect"]
        assert isinstance(expect, dict)
        job = jobs[name]
        assert job["engine"] == spec["engine"], name
        outcome = {"succeeded": "applied"}.get(expect["outcome"], expect["outcome"])
        assert job["state"] == outcome, (name, job)
        if outcome == "applied":
            pages, text = await pdf_text(http, created[name]["id"])
            if "pages" in expect:
                assert pages == expect["pages"], name
            assert pages >= expect.get("min_pages", 1), name
            for needle in expect.get("text_contains", []):
                assert needle in text, (name, needle)
            for needle in expect.get("text_excludes", []):
                assert needle not in text, (name, needle)
        elif outcome == "failed":
            error = job["error"]
            message = f"{error['message']}\n{error['excerpt']}"
            for needle in expect.get("error_contains", []):
                assert needle in message, (name, error)
            if "error_line" in expect:
                assert (error["file"], error["line"]) == (
                    expect["error_line"]["file"],
                    expect["error_line"]["line"],
                ), error
        elif outcome == "timed_out":
            assert job["error"]["code"] == "TIMEOUT"
            assert job["duration_ms"] <= COMPILE_TIMEOUT_MS + 1000


async def test_an_edit_during_a_compile_leaves_the_newest_revision_applied(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    slow = (
        "\\documentclass{article}\\begin{document}\\newcount\\n\\loop\\advance\\n1 "
        "\\ifnum\\n<2000000\\repeat First.\\end{document}\n"
    )
    first = await create(http, {"main.tex": slow})
    # The edit lands while the first revision compiles (under a second of counting here).
    await wait_for_event(pipeline.services["compiler"], "compile_started", job_id=first["job_id"])
    second = await update(http, first["id"], 1, {"main.tex": slow.replace("First", "Second")})
    old, new = await asyncio.gather(
        wait_final(http, first["job_id"]), wait_final(http, second["job_id"])
    )
    assert new["state"] == "applied"
    assert old["state"] == "stale"
    doc = await document(http, first["id"])
    assert doc["pdf"]["revision"] == 2
    _, text = await pdf_text(http, first["id"])
    assert "Second" in text


async def until_some_final(http: aiohttp.ClientSession, job_ids: list[str]) -> None:
    """Until at least one of ``job_ids`` is final (and, usually, others are not yet)."""
    async with asyncio.timeout(120):
        while True:
            for job_id in job_ids:
                async with http.get(f"/v1/jobs/{job_id}") as response:
                    if (await response.json())["state"] in FINAL_STATES:
                        return
            await asyncio.sleep(0.05)


async def submit_batch(http: aiohttp.ClientSession, n: int, tag: str) -> list[str]:
    """Create and compile ``n`` documents; their job ids."""
    created = await asyncio.gather(*(create(http, variant(i, tag)) for i in range(n)))
    return [c["job_id"] for c in created]


async def test_a_rabbitmq_restart_in_the_middle_of_a_batch_loses_nothing(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    job_ids = await submit_batch(http, 50, "rabbit")
    await until_some_final(http, job_ids)  # the middle of the batch
    for step in (["stop_app"], ["start_app"]):
        subprocess.run(["rabbitmqctl", *step], check=True, capture_output=True, timeout=120)
    jobs = await asyncio.gather(*(wait_final(http, j, timeout=240) for j in job_ids))
    assert [j["state"] for j in jobs] == ["applied"] * 50


async def test_a_compiler_killed_in_the_middle_of_a_batch_loses_nothing(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    job_ids = await submit_batch(http, 20, "kill")
    await until_some_final(http, job_ids)  # the middle of the batch
    pipeline.services["compiler"].kill()
    pipeline.restart("compiler")
    jobs = await asyncio.gather(*(wait_final(http, j, timeout=180) for j in job_ids))
    assert [j["state"] for j in jobs] == ["applied"] * 20


@pytest.mark.parametrize("stage", ["api", "applier"])
async def test_a_restarted_service_loses_nothing(
    http: aiohttp.ClientSession, pipeline: Pipeline, stage: str
) -> None:
    job_ids = await submit_batch(http, 10, f"restart-{stage}")
    pipeline.services[stage].stop()
    await asyncio.sleep(2.0)
    pipeline.restart(stage)
    jobs = await asyncio.gather(*(wait_final(http, j, timeout=180) for j in job_ids))
    assert [j["state"] for j in jobs] == ["applied"] * 10
