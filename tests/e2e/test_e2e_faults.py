"""Outages never kill a healthy job; only poison is dead-lettered (docs/architecture.md).

Each scenario runs a whole stack of its own (``fault_stack``) and breaks one dependency of one
service through a TCP proxy the test controls: S3 for the compiler, the broker for the
compiler, PostgreSQL for the api; or stops the api itself for a minute while results are on
their way to the applier; the poison scenario kills the compiler whenever it compiles one
request. Each ends with 0 lost, 0 healthy jobs dead, 0 applied twice, and every document
showing its newest revision; the figures are printed as a row of the chaos table.
``TEXPIPE_CHAOS_SCALE`` (``make chaos``) multiplies the batches.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import aio_pika
import aiohttp
import pytest
from e2e_helpers import Pipeline, busy, create, log_events, variant, wait_for_event
from fault_stack import (
    SCALE,
    Figures,
    fault_stack,
    figures,
    newest_revisions_shown,
    ops_url,
    through,
)
from texpipe_contracts.topology import build_topology
from texpipe_testing.proxy import TcpProxy

S3_OUTAGE_S = 60.0
"""The outage the design promises to ride out (DESIGN.md: S3 away for a minute)."""
API_OUTAGE_S = 60.0
"""The api away as long: the applier holds the results meanwhile (DESIGN.md)."""
DROPS = 10
SLOW_COMPILE_ITERATIONS = 45_000_000
"""About 15 s of pdfTeX counting here: longer than the ten drops take."""
POISON_REASON = "compiled 3 times without finishing (the compiler died)"

pytestmark = pytest.mark.timeout(600 * SCALE)


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@asynccontextmanager
async def client(stack: Pipeline) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client of the stack's api, signed in as its tenant."""
    async with aiohttp.ClientSession(
        stack.api_url,
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=aiohttp.ClientTimeout(total=120),
    ) as http:
        yield http


async def submit(http: aiohttp.ClientSession, n: int, tag: str) -> tuple[list[str], list[str]]:
    """``n`` distinct documents created with a compile: (job ids, document ids)."""
    created = await asyncio.gather(*(create(http, variant(i, tag)) for i in range(n)))
    return [c["job_id"] for c in created], [c["id"] for c in created]


async def until_ready_in_queue(stack: Pipeline, count: int) -> None:
    """Until the stack's compile queue holds ``count`` messages ready (not delivered)."""
    queue = build_topology(stack.env["TEXPIPE_NAMESPACE"]).compile_queue.name
    connection = await aio_pika.connect(stack.env["TEXPIPE_AMQP_URL"])
    async with connection, asyncio.timeout(60):
        channel = await connection.channel()
        while (
            await channel.declare_queue(queue, passive=True)
        ).declaration_result.message_count != count:
            await asyncio.sleep(0.1)


def assert_clean(row: Figures, states: dict[str, str], healthy: set[str]) -> None:
    assert (row.lost, row.dead, row.double_applies) == (0, 0, 0), (row, states)
    assert {states[j] for j in healthy} == {"applied"}, states


async def all_applied_and_newest_shown(
    scenario: str,
    stack: Pipeline,
    http: aiohttp.ClientSession,
    job_ids: list[str],
    document_ids: list[str],
) -> None:
    """Once the fault ended: every job applied, none lost, dead or applied twice (a row of the
    chaos table), and every document shows its newest revision."""
    row, states = await figures(
        scenario, stack, http, job_ids,
        healthy=set(job_ids), fault_ended=asyncio.get_running_loop().time(),
    )  # fmt: skip
    assert_clean(row, states, set(job_ids))
    assert await newest_revisions_shown(http, document_ids)


async def s3_unreachable_for_a_minute_with_requests_queued(
    service_env: dict[str, str], log_dir: Path
) -> None:
    host, port = _host_port(service_env["TEXPIPE_S3_ENDPOINT_URL"], 80)
    async with TcpProxy(host, port) as s3_proxy:
        compiler_s3 = {"TEXPIPE_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_proxy.port}"}
        async with (
            fault_stack(service_env, log_dir, compiler=compiler_s3) as stack,
            client(stack) as http,
        ):
            compiler = stack.services["compiler"]
            s3_proxy.cut()
            job_ids, document_ids = await submit(http, 10 * SCALE, "s3")
            await wait_for_event(compiler, "consumer_paused")
            # The compiler holds what its prefetch took (its concurrency, 2); the rest waits
            # in the queue, whole.
            await until_ready_in_queue(stack, 10 * SCALE - 2)
            async with aiohttp.ClientSession() as ops:
                async with ops.get(ops_url(compiler, "/metrics")) as response:
                    assert 'texpipe_consumer_paused{dependency="s3"} 1.0' in await response.text()
                async with ops.get(ops_url(compiler, "/ready")) as response:
                    assert response.status == 503
                    assert "s3" in (await response.json())["failed"]["consuming"]
            outage_started = asyncio.get_running_loop().time()
            # A rolling restart in the middle of it: the held requests are given back whole
            # (not returned by a closing channel, which would count a delivery).
            await asyncio.to_thread(compiler.stop)
            assert log_events(compiler, "held_message_given_back_at_shutdown")
            await until_ready_in_queue(stack, 10 * SCALE)
            await asyncio.to_thread(stack.restart, "compiler")
            compiler = stack.services["compiler"]
            # The fault itself: S3 stays away a minute.
            await asyncio.sleep(S3_OUTAGE_S - (asyncio.get_running_loop().time() - outage_started))
            s3_proxy.restore()
            await all_applied_and_newest_shown(
                "S3 unreachable 60 s", stack, http, job_ids, document_ids
            )
            assert not log_events(compiler, "message_not_handled")
            assert log_events(compiler, "consumer_resumed")


async def ten_connection_drops_during_one_long_compile(
    service_env: dict[str, str], log_dir: Path
) -> None:
    amqp_url = service_env["TEXPIPE_AMQP_URL"]
    async with TcpProxy(*_host_port(amqp_url, 5672)) as broker_proxy:
        compiler_broker = {
            "TEXPIPE_AMQP_URL": through(amqp_url, broker_proxy),
            "TEXPIPE_AMQP_RECONNECT_S": "0.2",
        }
        async with (
            fault_stack(service_env, log_dir, compiler=compiler_broker) as stack,
            client(stack) as http,
        ):
            compiler = stack.services["compiler"]
            slow = await create(http, busy(SLOW_COMPILE_ITERATIONS, "drops"))
            others, document_ids = await submit(http, 4 * SCALE, "drops")
            job_ids = [slow["job_id"], *others]
            await wait_for_event(compiler, "compile_started", job_id=slow["job_id"])
            for drop in range(1, DROPS + 1):
                # Each drop breaks a live connection: wait for the compiler to be back first.
                accepted = broker_proxy.connections
                broker_proxy.drop()
                async with asyncio.timeout(60):
                    while broker_proxy.connections <= accepted:
                        await asyncio.sleep(0.02)
                # The broker gave the request back; its new delivery joins the compile.
                await wait_for_event(compiler, "compile_joined", job_id=slow["job_id"], count=drop)
            # The ten drops all struck while the one compile ran.
            finished = log_events(compiler, "compile_finished")
            assert slow["job_id"] not in {e.get("job_id") for e in finished}
            await all_applied_and_newest_shown(
                f"{DROPS} broker connection drops in one compile", stack, http, job_ids,
                [slow["id"], *document_ids],
            )  # fmt: skip
            compiles = [
                e for e in log_events(compiler, "compile_started")
                if e.get("job_id") == slow["job_id"]
            ]  # fmt: skip
            assert len(compiles) == 1  # every redelivery joined the compile in flight


async def outbox_published(api_url: str) -> float:
    """The api's count of outbox messages the broker confirmed (its /metrics)."""
    async with aiohttp.ClientSession() as session, session.get(f"{api_url}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith("texpipe_api_outbox_published_total "):
            return float(line.split()[1])
    return 0.0


async def the_api_away_for_a_minute_with_every_request_out(
    service_env: dict[str, str], log_dir: Path
) -> None:
    async with fault_stack(service_env, log_dir) as stack, client(stack) as http:
        published = await outbox_published(stack.api_url)
        job_ids, document_ids = await submit(http, 10 * SCALE, "api")
        async with asyncio.timeout(60):  # every request is on the broker before the fault
            while await outbox_published(stack.api_url) < published + 10 * SCALE:
                await asyncio.sleep(0.05)
        await asyncio.to_thread(stack.services["api"].stop)
        await asyncio.sleep(API_OUTAGE_S)  # results reach the applier, which holds them
        await asyncio.to_thread(stack.restart, "api")
        await all_applied_and_newest_shown("the api away 60 s", stack, http, job_ids, document_ids)


async def every_postgresql_connection_of_the_api_cut_three_times(
    service_env: dict[str, str], log_dir: Path
) -> None:
    host, port = _host_port(service_env["TEXPIPE_DATABASE_URL"], 5432)
    async with (
        TcpProxy(host, port) as pg_proxy,
        fault_stack(service_env, log_dir, api_database_via=pg_proxy) as stack,
        client(stack) as http,
    ):
        job_ids, document_ids = await submit(http, 20 * SCALE, "pg")
        applier = stack.services["applier"]
        for cut in range(1, 4):
            # In the middle of the batch: after some more results were applied.
            await wait_for_event(applier, "result_delivered", count=cut * 2 * SCALE)
            connected = pg_proxy.connections
            pg_proxy.drop()
            async with asyncio.timeout(60):  # the api connects again (the cut was real)
                while pg_proxy.connections <= connected:
                    await asyncio.sleep(0.02)
        await all_applied_and_newest_shown(
            "api's PostgreSQL connections cut 3 times", stack, http, job_ids, document_ids
        )


async def a_request_that_kills_the_compiler_every_time_ends_dead_with_its_reason(
    service_env: dict[str, str], log_dir: Path
) -> None:
    async with fault_stack(service_env, log_dir) as stack, client(stack) as http:
        poison = await create(http, busy(SLOW_COMPILE_ITERATIONS * 10, "poison"))
        healthy, document_ids = await submit(http, 5 * SCALE, "poison")
        for kills in range(1, 4):
            # It "kills the compiler": whenever the compiler starts it, the process dies.
            await wait_for_event(
                stack.services["compiler"], "compile_started", job_id=poison["job_id"], count=kills
            )
            await asyncio.to_thread(stack.services["compiler"].kill)
            await asyncio.to_thread(stack.restart, "compiler")
        row, states = await figures(
            "a request that kills the compiler", stack, http, [poison["job_id"], *healthy],
            healthy=set(healthy), fault_ended=asyncio.get_running_loop().time(),
        )  # fmt: skip
        assert_clean(row, states, set(healthy))
        assert states[poison["job_id"]] == "dead"
        async with http.get(f"/v1/jobs/{poison['job_id']}") as response:
            job = await response.json()
        assert job["dead_reason"] == POISON_REASON
        assert await newest_revisions_shown(http, document_ids)


SCENARIOS = (
    s3_unreachable_for_a_minute_with_requests_queued,
    ten_connection_drops_during_one_long_compile,
    every_postgresql_connection_of_the_api_cut_three_times,
    the_api_away_for_a_minute_with_every_request_out,
    a_request_that_kills_the_compiler_every_time_ends_dead_with_its_reason,
)


async def test_outages_kill_no_healthy_job_and_poison_ends_dead(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    """The scenarios are independent (a stack each), so they run at once: the suite waits for
    the longest (S3 away for a minute), not for their sum."""
    outcomes = await asyncio.gather(
        *(scenario(service_env, tmp_path / scenario.__name__) for scenario in SCENARIOS),
        return_exceptions=True,
    )
    failed = [
        (scenario.__name__, outcome)
        for scenario, outcome in zip(SCENARIOS, outcomes, strict=True)
        if isinstance(outcome, BaseException)
    ]
    if failed:
        raise ExceptionGroup(
            "fault scenarios failed: " + ", ".join(name for name, _ in failed),
            [exc if isinstance(exc, Exception) else RuntimeError(repr(exc)) for _, exc in failed],
        )
