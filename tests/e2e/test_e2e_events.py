"""What platform services and editors see around a compile, against the running services:
``document.pdf_applied.v1`` on a queue of their own, the document event stream (SSE), and
cancel, on a stack of its own whose compiler has one slot."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from e2e_helpers import (
    CORPUS,
    Pipeline,
    busy,
    create,
    project_files,
    update,
    variant,
    wait_final,
    wait_for_event,
)
from fault_stack import fault_stack
from texpipe_contracts.topology import PDF_APPLIED_V1, build_topology
from texpipe_contracts.v1 import PdfApplied

CANCEL_FREES_SLOT_S = 2.0
"""Issue 15: a cancel frees the slot a compile holds within this long."""
FAILING = {"main.tex": "\\documentclass{article}\\begin{document}\\nosuchmacro\\end{document}\n"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Pipeline]:
    """api + compiler (one slot) + applier, in a namespace and database of their own."""
    async with fault_stack(
        service_env,
        tmp_path_factory.mktemp("events-logs"),
        compiler={"TEXPIPE_COMPILER_CONCURRENCY": "1"},
    ) as pipeline:
        yield pipeline


@pytest_asyncio.fixture(loop_scope="session")
async def http(stack: Pipeline) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        stack.api_url,
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=aiohttp.ClientTimeout(total=120),
    ) as session:
        yield session


class Events:
    """A reader of one document's SSE stream that reconnects with Last-Event-ID."""

    def __init__(self, stack: Pipeline, document_id: str) -> None:
        self.url = f"{stack.api_url}/v1/documents/{document_id}/events"
        self.headers = {"Authorization": f"Bearer {stack.token}"}
        self.seen: list[dict[str, Any]] = []
        self.connections = 0

    async def until(self, done: Any, timeout: float = 120) -> list[dict[str, Any]]:
        """Read (reconnecting after drops) until ``done(self.seen)``."""
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
            while not done(self.seen):
                headers = dict(self.headers)
                if self.seen:
                    headers["Last-Event-ID"] = self.seen[-1]["id"]
                try:
                    async with session.get(self.url, headers=headers) as response:
                        if response.status != 200:
                            await asyncio.sleep(0.2)  # the api is restarting
                            continue
                        self.connections += 1
                        fields: dict[str, Any] = {}
                        async for raw in response.content:
                            line = raw.decode().rstrip("\n")
                            if line and not line.startswith(":"):
                                name, _, value = line.partition(": ")
                                fields[name] = json.loads(value) if name == "data" else value
                            elif not line and "data" in fields:
                                self.seen.append(fields)
                                fields = {}
                                if done(self.seen):
                                    return self.seen
                except (aiohttp.ClientError, ConnectionError):
                    await asyncio.sleep(0.2)
        return self.seen


def job_states(events: list[dict[str, Any]], job_id: str) -> list[str]:
    return [e["data"]["state"] for e in events if e["data"].get("job_id") == job_id]


async def drained(stack: Pipeline) -> None:
    """Until the stack's relay has published every outbox row."""
    conn = await asyncpg.connect(stack.env["TEXPIPE_DATABASE_URL"])
    try:
        async with asyncio.timeout(60):
            while await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def test_one_pdf_applied_per_applied_pdf_across_an_api_restart_and_live_events(
    stack: Pipeline, http: aiohttp.ClientSession
) -> None:
    # A platform service binds its own queue (docs/events.md), before anything happens.
    connection = await aio_pika.connect(stack.env["TEXPIPE_AMQP_URL"])
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    exchange = build_topology(stack.env["TEXPIPE_NAMESPACE"]).exchange.name
    await queue.bind(exchange, routing_key=PDF_APPLIED_V1)
    started = time.monotonic()

    applied_doc = await create(http, variant(1, "events"))
    failed_doc = await create(http, FAILING)
    # Revision 1 compiles while revision 2 arrives: its result is stale.
    stale_doc = await create(http, busy(3_000_000, "events-1"))
    await wait_for_event(stack.services["compiler"], "compile_started", job_id=stale_doc["job_id"])
    newer = await update(http, stale_doc["id"], 1, busy(10, "events-2"))
    # Across an api restart: its result comes back while the api is down.
    restart_doc = await create(http, busy(3_000_000, "events-restart"))
    stream = Events(stack, restart_doc["id"])
    reading = asyncio.create_task(
        stream.until(lambda seen: "applied" in job_states(seen, restart_doc["job_id"]))
    )
    await wait_for_event(
        stack.services["compiler"], "compile_started", job_id=restart_doc["job_id"]
    )
    await asyncio.to_thread(stack.services["api"].stop, 40)
    await asyncio.to_thread(stack.restart, "api")

    jobs = {
        "applied": await wait_final(http, applied_doc["job_id"]),
        "failed": await wait_final(http, failed_doc["job_id"]),
        "stale": await wait_final(http, stale_doc["job_id"]),
        "newer": await wait_final(http, newer["job_id"]),
        "restart": await wait_final(http, restart_doc["job_id"]),
    }
    assert {name: job["state"] for name, job in jobs.items()} == {
        "applied": "applied",
        "failed": "failed",
        "stale": "stale",
        "newer": "applied",
        "restart": "applied",
    }
    await drained(stack)
    events = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        events.append(PdfApplied.model_validate_json(message.body))
    await connection.close()
    expected = {jobs[name]["id"] for name in ("applied", "newer", "restart")}
    assert sorted(str(e.job_id) for e in events) == sorted(expected), "one per applied PDF"
    for event in events:
        doc = await (await http.get(f"/v1/documents/{event.document_id}")).json()
        assert (event.revision, event.pdf.sha256) == (doc["pdf"]["revision"], doc["pdf"]["sha256"])

    # The stream of the restarted document: dropped by the restart, resumed, nothing lost.
    seen = await reading
    assert stream.connections >= 2, "the api restart dropped the first connection"
    assert [int(e["id"]) for e in seen] == list(range(1, len(seen) + 1))
    # The compiler's notice reached the api (or waited out its restart) before the result.
    assert job_states(seen, restart_doc["job_id"]) == ["queued", "compiling", "applied"]
    # The stale document's history, in the order it happened: each job queued, compiling, final
    # (a job's compiling moment falls anywhere after its queued one).
    history = await Events(stack, stale_doc["id"]).until(lambda seen: len(seen) >= 8)
    assert job_states(history, stale_doc["job_id"]) == ["queued", "compiling", "stale"]
    assert job_states(history, newer["job_id"]) == ["queued", "compiling", "applied"]
    order = [
        (e["event"], e["data"].get("state"), e["data"]["revision"])
        for e in history
        if e["data"].get("state") != "compiling"
    ]
    assert order[:4] == [("revision", None, 1), ("job", "queued", 1), ("revision", None, 2),
                         ("job", "queued", 2)]  # fmt: skip
    assert sorted(order[4:]) == [("job", "applied", 2), ("job", "stale", 1)]
    print(f"\npdf_applied e2e: {len(events)} events for 3 applied PDFs, "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip


async def test_cancel_frees_the_slot_of_an_endless_compile_at_once(
    stack: Pipeline, http: aiohttp.ClientSession
) -> None:
    endless = await create(http, project_files(CORPUS / "slow-loop"))
    await wait_for_event(stack.services["compiler"], "compile_started", job_id=endless["job_id"])
    # The one slot is held: this one waits in the queue behind it.
    waiting = await create(http, variant(2, "after-cancel"))
    before = time.monotonic()
    response = await http.post(f"/v1/jobs/{endless['job_id']}/cancel")
    assert response.status == 200
    assert (await response.json())["state"] == "cancelled"
    await wait_for_event(stack.services["compiler"], "compile_started", job_id=waiting["job_id"])
    freed_s = time.monotonic() - before
    print(f"\ncancel e2e: the next compile started {freed_s:.2f} s after the cancel")
    assert freed_s < CANCEL_FREES_SLOT_S
    assert (await wait_final(http, waiting["job_id"]))["state"] == "applied"
    job = await (await http.get(f"/v1/jobs/{endless['job_id']}")).json()
    assert job["state"] == "cancelled"
    again = await http.post(f"/v1/jobs/{endless['job_id']}/cancel")
    assert (again.status, (await again.json())["job_state"]) == (409, "cancelled")
    await wait_for_event(stack.services["compiler"], "compile_stopped_cancelled")
