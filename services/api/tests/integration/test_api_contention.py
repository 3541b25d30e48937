"""The stale check where it can actually race, against the real PostgreSQL and S3.

- Results of revision N arrive while revision N+1 is being saved and compiled (the two
  requests run concurrently, their order shuffled by fixed seeds): the document's PDF never
  goes back to an older revision, and ends on the newest.
- Ten deliveries of the same result at once: applied exactly once.
- The outbox relay dies between the broker's confirm and its commit: the request goes out
  again with the same message id, and its job is applied once.
"""

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from texpipe_api.app import create_app
from texpipe_api.auth import create_token
from texpipe_api.config import Settings
from texpipe_api.db import outbox_queries
from texpipe_api.outbox import OutboxRelay
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.api_calls import HELLO, create_document
from texpipe_testing.results import post_result, stored_pdf, succeeded

REVISIONS = 8
Client = TestClient[Any, Any]


def source(n: int) -> dict[str, Any]:
    return {"files": {"main.tex": HELLO + f"% revision {n}\n"}, "compile": True}


async def pdf_revision(client: Client, headers: dict[str, str], doc: str) -> int | None:
    body = await (await client.get(f"/v1/documents/{doc}", headers=headers)).json()
    return body["pdf"]["revision"] if body["pdf"] else None


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
async def test_results_racing_new_revisions_never_move_the_pdf_back(
    seed: int,
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
) -> None:
    rng = random.Random(seed)
    created = await create_document(client, tenant_a, **source(1))
    doc, jobs = created["id"], {1: created["job_id"]}
    pdfs = {n: await stored_pdf(s3_store) for n in range(1, REVISIONS + 1)}
    seen: list[int | None] = []

    async def save(n: int) -> None:
        await asyncio.sleep(rng.random() / 100)  # the seed decides who goes first
        response = await client.put(f"/v1/documents/{doc}", json=source(n), headers=tenant_a)
        assert response.status in (200, 201), await response.text()
        jobs[n] = (await response.json())["job_id"]

    async def deliver(n: int) -> None:
        await asyncio.sleep(rng.random() / 100)
        status, body = await post_result(
            client, service_headers, succeeded(jobs[n], doc, n, pdfs[n])
        )
        assert (status, body.get("code")) in {(200, None), (409, "LATEX_JOB_STALE")}, body

    for n in range(2, REVISIONS + 1):
        await asyncio.gather(deliver(n - 1), save(n), deliver(n - 1))
        seen.append(await pdf_revision(client, tenant_a, doc))
    await deliver(REVISIONS)
    seen.append(await pdf_revision(client, tenant_a, doc))
    applied = [r for r in seen if r is not None]
    assert applied == sorted(applied), seen  # never a stale overwrite
    assert seen[-1] == REVISIONS
    body = await (await client.get(f"/v1/documents/{doc}", headers=tenant_a)).json()
    assert body["pdf"]["sha256"] == pdfs[REVISIONS].sha256


async def test_ten_concurrent_deliveries_of_one_result_apply_it_once(
    client: Client, tenant_a: dict[str, str], service_headers: dict[str, str], s3_store: S3Store
) -> None:
    created = await create_document(client, tenant_a, **source(1))
    result = succeeded(created["job_id"], created["id"], 1, await stored_pdf(s3_store))
    answers = await asyncio.gather(
        *(post_result(client, service_headers, result) for _ in range(10))
    )
    statuses = sorted(body["status"] for _, body in answers)
    assert statuses == ["already_applied"] * 9 + ["applied"], answers
    assert await pdf_revision(client, tenant_a, created["id"]) == 1


@asynccontextmanager
async def own_api(settings: Settings) -> AsyncIterator[tuple[Client, dict[str, str]]]:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        token = await create_token(conn, "contention-tenant")
    finally:
        await conn.close()
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client, {"Authorization": f"Bearer {token}"}


class DiedError(Exception):
    """The relay's process 'dies' here: after the broker's confirm, before its commit."""


async def test_a_relay_dying_between_confirm_and_commit_publishes_again_and_applies_once(
    new_database: Callable[[], Awaitable[str]],
    make_settings: Callable[..., Settings],
    published: Any,
    service_headers: dict[str, str],
    s3_store: S3Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(await new_database(), relay_enabled=False)
    async with own_api(settings) as (client, headers):
        created = await create_document(client, headers, **source(1))
        job_id = UUID(created["job_id"])
        pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(), min_size=1, max_size=2
        )
        relay = OutboxRelay(
            pool, amqp_url=settings.amqp_url.get_secret_value(),
            exchange=settings.topology().exchange, batch_size=10, sweep_s=0.05, retry_s=0.05,
        )  # fmt: skip
        mark_published = outbox_queries.mark_published

        async def die(*_: object) -> None:
            raise DiedError

        try:
            monkeypatch.setattr(outbox_queries, "mark_published", die)
            with pytest.raises(DiedError):
                await relay.drain(await relay._ensure_broker())
            await published.wait_for([job_id])
            monkeypatch.setattr(outbox_queries, "mark_published", mark_published)
            # A relay that starts afterwards finds the row unpublished: it goes out again.
            assert await relay.drain(await relay._ensure_broker()) == 1
            async with asyncio.timeout(10):
                while len(published.by_job[job_id]) < 2:
                    await asyncio.sleep(0.02)
        finally:
            await relay.close()
            await pool.close()
        first, second = published.by_job[job_id]
        assert first.message_id == second.message_id
        # Both copies are compiled: two results for one job, applied once.
        pdf = await stored_pdf(s3_store)
        answers = [
            await post_result(
                client, service_headers, succeeded(str(job_id), created["id"], 1, pdf)
            )
            for _ in (first, second)
        ]
        assert [body["status"] for _, body in answers] == ["applied", "already_applied"]
