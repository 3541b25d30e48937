"""The applier as a process, on the real RabbitMQ, with an HTTP server standing in for the api."""

import asyncio
import itertools
import json
import os
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import aio_pika
import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from faststream.rabbit import RabbitBroker
from texpipe_applier.dlq import DlqEntry, list_dead_letters, replay
from texpipe_applier.errors import DlqMessageNotFoundError
from texpipe_contracts import topology as topo_names
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.internal_api import PROBLEM_CONTENT_TYPE
from texpipe_contracts.topology import Topology, build_topology
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileRequested,
    CompileStarted,
    Engine,
    Outcome,
    PdfRef,
    SourceBundleRef,
)
from texpipe_servicekit.rabbit import declare_topology
from texpipe_testing.plugin import delete_topology
from texpipe_testing.processes import ServiceProcess
from texpipe_testing.servers import free_port

# Small delays so that 1 + 8 tries take seconds: nominal 0.1 0.2 0.4 0.8 0.8 0.8 0.8 0.8 s,
# at least 2.25 s in all with jitter. The api-down test stays down for less than that.
RETRY_BASE_S = 0.1
RETRY_CAP_S = 0.8
API_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the stub api."""

    status: int
    body: dict[str, Any]
    delay_s: float = 0.0


APPLIED = Reply(200, {"status": "applied", "job_state": "applied"})
MARKED_DEAD = Reply(200, {"job_state": "dead"})
RECORDED = Reply(200, {"status": "recorded", "job_state": "queued"})


def problem(status: int, code: str, detail: str = "") -> Reply:
    """A problem+json answer."""
    return Reply(status, {"title": code, "status": status, "code": code, "detail": detail})


STALE = problem(409, ErrorCode.LATEX_JOB_STALE, "the document moved on")
RESULT_INVALID = problem(409, ErrorCode.LATEX_JOB_RESULT_INVALID, "pdf not visible yet")


@dataclass(frozen=True)
class Call:
    """One request the stub received."""

    job_id: str
    at: float
    body: dict[str, Any]
    status: int


@dataclass
class StubApi:
    """The api's internal endpoints, answering per job from a script (the last reply repeats)."""

    token: str
    port: int = field(default_factory=free_port)
    results: dict[str, list[Reply]] = field(default_factory=dict)
    deads: dict[str, list[Reply]] = field(default_factory=dict)
    starts: dict[str, list[Reply]] = field(default_factory=dict)
    result_calls: list[Call] = field(default_factory=list)
    dead_calls: list[Call] = field(default_factory=list)
    started_calls: list[Call] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls_for(self, job_id: UUID, *, dead: bool = False) -> list[Call]:
        calls = self.dead_calls if dead else self.result_calls
        return [c for c in calls if c.job_id == str(job_id)]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._health)
        app.router.add_post("/internal/v1/jobs/{job_id}/result", self._result)
        app.router.add_post("/internal/v1/jobs/{job_id}/dead", self._dead)
        app.router.add_post("/internal/v1/jobs/{job_id}/started", self._started)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Close the port: callers get 'connection refused'."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _answer(
        self,
        request: web.Request,
        script: dict[str, list[Reply]],
        calls: list[Call],
        default: Reply,
    ) -> web.Response:
        job_id = request.match_info["job_id"]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            reply = problem(401, "UNAUTHORIZED")
        else:
            replies = script.get(job_id, [default])
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        calls.append(Call(job_id, time.monotonic(), await request.json(), reply.status))
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        content_type = "application/json" if reply.status < 400 else PROBLEM_CONTENT_TYPE
        return web.json_response(reply.body, status=reply.status, content_type=content_type)

    async def _result(self, request: web.Request) -> web.Response:
        return await self._answer(request, self.results, self.result_calls, APPLIED)

    async def _dead(self, request: web.Request) -> web.Response:
        return await self._answer(request, self.deads, self.dead_calls, MARKED_DEAD)

    async def _started(self, request: web.Request) -> web.Response:
        return await self._answer(request, self.starts, self.started_calls, RECORDED)


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def completed(job_id: UUID | None = None) -> CompileCompleted:
    """A successful compile result."""
    return CompileCompleted(
        job_id=job_id or uuid4(),
        document_id=uuid4(),
        revision=1,
        outcome=Outcome.SUCCEEDED,
        pdf=PdfRef(key="outputs/k/output.pdf", size=100, sha256="c" * 64, pages=1),
        duration_ms=150,
        engine=Engine.PDFLATEX,
        engine_version="pdfTeX 3.141592653-2.6-1.40.24",
    )


def started() -> CompileStarted:
    """A compile-started notice."""
    return CompileStarted(
        job_id=uuid4(), document_id=uuid4(), revision=1, started_at=datetime.now(UTC), compiler="c"
    )


def compile_request() -> CompileRequested:
    """A compile request (no compiler consumes this module's namespace)."""
    return CompileRequested(
        job_id=uuid4(),
        document_id=uuid4(),
        revision=2,
        source=SourceBundleRef(key="sources/x.tar", sha256="d" * 64, size=10),
        engine=Engine.PDFLATEX,
    )


@dataclass
class Bus:
    """Publishes test messages the way the compiler (or the broker) would."""

    channel: aio_pika.abc.AbstractChannel
    topology: Topology

    async def publish(
        self,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        correlation_id: str | None = None,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        target = (
            await self.channel.get_exchange(exchange, ensure=False)
            if exchange
            else self.channel.default_exchange
        )
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            correlation_id=correlation_id,
            message_id=message_id or str(uuid4()),
            headers=headers or {},
        )
        await target.publish(message, routing_key=routing_key, mandatory=True)

    async def publish_result(self, event: CompileCompleted) -> None:
        await self.publish(
            event.model_dump_json().encode(),
            exchange=self.topology.exchange.name,
            routing_key=topo_names.COMPILE_COMPLETED_V1,
            correlation_id=str(event.job_id),
            message_id=str(event.message_id),
        )


@pytest.fixture(scope="module")
def applier_topology(namespace: str) -> Topology:
    """A namespace of this module's own: its DLQs hold only what these tests put there."""
    return build_topology(f"{namespace}-ap{secrets.token_hex(2)}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def declared(amqp_url: str, applier_topology: Topology) -> AsyncIterator[Topology]:
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.connect()
        await declare_topology(broker, applier_topology)
    yield applier_topology
    await delete_topology(amqp_url, applier_topology)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stub_api() -> AsyncIterator[StubApi]:
    stub = StubApi(token="svc-" + secrets.token_hex(8))
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture(scope="module")
def applier_env(amqp_url: str, declared: Topology, stub_api: StubApi) -> dict[str, str]:
    """Environment of an applier pointed at the stub api, with test-sized delays."""
    return {
        "TEXPIPE_AMQP_URL": amqp_url,
        "TEXPIPE_NAMESPACE": declared.namespace,
        "TEXPIPE_API_URL": stub_api.url,
        "TEXPIPE_SERVICE_TOKEN": stub_api.token,
        "TEXPIPE_OPS_PORT": str(free_port()),
        "TEXPIPE_APPLY_RETRY_BASE_S": str(RETRY_BASE_S),
        "TEXPIPE_APPLY_RETRY_CAP_S": str(RETRY_CAP_S),
        "TEXPIPE_API_TOTAL_TIMEOUT_S": str(API_TIMEOUT_S),
        "TEXPIPE_PROBE_BASE_S": "0.05",
        "TEXPIPE_PROBE_CAP_S": "0.3",
        "TEXPIPE_SHUTDOWN_GRACE_S": "5",
        "APPLY_MAX_RETRIES": "8",
        "TEXPIPE_LOG_FORMAT": "json",
        "TEXPIPE_LOG_LEVEL": "INFO",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def applier(
    applier_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    """``python -m texpipe_applier`` as a real process (started in a thread: the stub api
    shares this event loop and must keep answering)."""
    process = ServiceProcess(
        "texpipe_applier",
        env=applier_env,
        log_path=tmp_path_factory.mktemp("applier") / "applier.log",
        health_url=f"http://127.0.0.1:{applier_env['TEXPIPE_OPS_PORT']}/health",
    )
    await asyncio.to_thread(process.start)
    yield process
    code = await asyncio.to_thread(process.stop)
    assert code == 0, process.tail()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bus(amqp_url: str, declared: Topology) -> AsyncIterator[Bus]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        yield Bus(await connection.channel(publisher_confirms=True), declared)


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``python -m texpipe_applier ARGS`` as an operator runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "texpipe_applier",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def dlq_entries(env: dict[str, str]) -> list[dict[str, Any]]:
    """``texpipe-applier dlq list --json``, parsed."""
    code, out, err = await run_cli(env, "dlq", "list", "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def dead_letters_by_job(amqp_url: str, topo: Topology) -> dict[str, DlqEntry]:
    """What ``dlq list`` shows, in process (a CLI run costs a Python start-up)."""
    return {entry.job_id: entry for entry in await list_dead_letters(amqp_url, topo)}


# ---------------------------------------------------------------------------------------------
# The tests. Each uses job ids of its own; the applier process runs for the whole module.


async def until_delivered(applier: ServiceProcess, job_id: UUID) -> None:
    """Until the applier logged its final decision (ack) for a result of ``job_id``."""

    def delivered() -> bool:
        for line in applier.log_path.read_text(errors="replace").splitlines():
            if '"result_delivered"' in line and str(job_id) in line:
                return True
        return False

    await wait_until(delivered, 15, f"the result of {job_id} delivered")


def _paused_for_api(applier: ServiceProcess) -> bool:
    return any(
        '"consumer_paused"' in line and '"api"' in line
        for line in applier.log_path.read_text(errors="replace").splitlines()
    )


def nominal_delay(retry: int) -> float:
    return min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** (retry - 1))


async def test_a_result_is_applied_once(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus
) -> None:
    event = completed()
    await bus.publish_result(event)
    # The applier's decision for the delivery is logged before its ack: a retry would follow it.
    await until_delivered(applier, event.job_id)
    (call,) = stub_api.calls_for(event.job_id)
    assert call.status == 200
    assert call.body == json.loads(event.model_dump_json())


async def test_started_notices_reach_the_api_retried_on_a_500_and_never_dead_lettered(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus, amqp_url: str
) -> None:
    retried, pruned, result = started(), started(), completed()
    stub_api.starts[str(retried.job_id)] = [problem(500, "INTERNAL"), RECORDED]
    stub_api.starts[str(pruned.job_id)] = [problem(404, "NOT_FOUND")]
    for notice in (retried, pruned):
        await bus.publish(
            notice.model_dump_json().encode(),
            exchange=bus.topology.exchange.name,
            routing_key=topo_names.COMPILE_STARTED_V1,
            correlation_id=str(notice.job_id),
        )
    await bus.publish_result(result)  # the same queue: results are not held behind notices
    await until_delivered(applier, result.job_id)

    def answered(notice: CompileStarted) -> list[int]:
        return [c.status for c in stub_api.started_calls if c.job_id == str(notice.job_id)]

    await wait_until(lambda: answered(retried) == [500, 200], 15, "the retried notice")
    await wait_until(lambda: answered(pruned) == [404], 15, "the 404 notice")
    assert not stub_api.calls_for(retried.job_id)
    assert not stub_api.calls_for(pruned.job_id)
    dead = await dead_letters_by_job(amqp_url, bus.topology)
    assert str(retried.job_id) not in dead
    assert str(pruned.job_id) not in dead


async def test_a_stale_result_is_acked_and_not_retried(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus, amqp_url: str
) -> None:
    event = completed()
    stub_api.results[str(event.job_id)] = [STALE]
    await bus.publish_result(event)
    await until_delivered(applier, event.job_id)
    assert [c.status for c in stub_api.calls_for(event.job_id)] == [409]
    assert not stub_api.calls_for(event.job_id, dead=True)
    assert str(event.job_id) not in await dead_letters_by_job(amqp_url, bus.topology)


async def test_server_errors_and_timeouts_are_retried_until_applied(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus
) -> None:
    event = completed()
    stub_api.results[str(event.job_id)] = [
        problem(503, "UNAVAILABLE"),
        Reply(200, {"status": "applied", "job_state": "applied"}, delay_s=API_TIMEOUT_S + 0.5),
        Reply(200, {"status": "already_applied", "job_state": "applied"}),
    ]
    await bus.publish_result(event)
    await until_delivered(applier, event.job_id)
    assert [c.status for c in stub_api.calls_for(event.job_id)] == [503, 200, 200]


async def test_results_that_arrive_while_the_api_is_down_are_applied_after_it_returns(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus, amqp_url: str
) -> None:
    events = [completed() for _ in range(5)]
    await stub_api.stop()
    try:
        for event in events:
            await bus.publish_result(event)
        # Down until the applier has seen it and paused (an event, not a duration).
        await wait_until(lambda: _paused_for_api(applier), 15, "the applier paused for the api")
    finally:
        await stub_api.start()
    for event in events:
        await until_delivered(applier, event.job_id)  # its final decision: nothing follows
    for event in events:
        assert [c.status for c in stub_api.calls_for(event.job_id)] == [200]
    dead_jobs = await dead_letters_by_job(amqp_url, bus.topology)
    assert not set(dead_jobs) & {str(e.job_id) for e in events}


async def test_result_invalid_forever_means_one_plus_eight_tries_then_a_dead_job(
    applier: ServiceProcess,
    stub_api: StubApi,
    bus: Bus,
    applier_env: dict[str, str],
    declared: Topology,
    amqp_url: str,
) -> None:
    event = completed()
    stub_api.results[str(event.job_id)] = [RESULT_INVALID]
    await bus.publish_result(event)
    await wait_until(
        lambda: bool(stub_api.calls_for(event.job_id, dead=True)), 20, "the /dead call"
    )
    calls = stub_api.calls_for(event.job_id)
    assert len(calls) == 1 + 8
    assert {c.status for c in calls} == {409}
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]
    for retry, gap in enumerate(gaps, start=1):
        # Never earlier than the minimum jitter allows; late only by the hop's overhead.
        assert 0.5 * nominal_delay(retry) * 0.95 <= gap <= nominal_delay(retry) + 1.0, gaps
    assert sum(gaps[4:]) > 2 * sum(gaps[:2]), gaps  # growing

    (dead_call,) = stub_api.calls_for(event.job_id, dead=True)
    assert dead_call.body["attempts"] == 9
    assert dead_call.body["queue"] == declared.apply_dlq.name
    assert "9 tries" in dead_call.body["reason"]

    entries = [e for e in await dlq_entries(applier_env) if e["job_id"] == str(event.job_id)]
    assert len(entries) == 1
    assert entries[0]["attempts"] == 9
    assert entries[0]["code"] == ErrorCode.RETRIES_EXHAUSTED
    assert entries[0]["queue"] == declared.apply_dlq.name
    # Listing consumed nothing.
    assert (await dead_letters_by_job(amqp_url, declared))[str(event.job_id)].attempts == 9


async def test_malformed_and_unknown_version_messages_are_dead_lettered_and_work_goes_on(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus, amqp_url: str
) -> None:
    garbage_job, v2_job = uuid4(), uuid4()
    await bus.publish(
        b"this is not json {",
        exchange=bus.topology.exchange.name,
        routing_key=topo_names.COMPILE_COMPLETED_V1,
        correlation_id=str(garbage_job),
    )
    v2_body = json.loads(completed(v2_job).model_dump_json()) | {"schema_version": 2}
    await bus.publish(
        json.dumps(v2_body).encode(),
        exchange=bus.topology.exchange.name,
        routing_key=topo_names.COMPILE_COMPLETED_V1,
        correlation_id=str(v2_job),
    )
    good = completed()
    await bus.publish_result(good)
    await wait_until(lambda: bool(stub_api.calls_for(good.job_id)), 10, "the good result")
    await wait_until(
        lambda: all(stub_api.calls_for(j, dead=True) for j in (garbage_job, v2_job)),
        10,
        "both jobs marked dead",
    )
    assert not stub_api.calls_for(garbage_job)
    assert not stub_api.calls_for(v2_job)
    by_job = await dead_letters_by_job(amqp_url, bus.topology)
    assert "not JSON" in by_job[str(garbage_job)].reason
    assert by_job[str(garbage_job)].code == "MESSAGE_MALFORMED"
    assert "version 2" in by_job[str(v2_job)].reason
    assert by_job[str(v2_job)].code == "MESSAGE_UNKNOWN_VERSION"
    assert "version 2" in stub_api.calls_for(v2_job, dead=True)[0].body["reason"]


async def test_dlq_replay_re_drives_a_dead_letter_until_it_is_applied(
    applier: ServiceProcess,
    stub_api: StubApi,
    bus: Bus,
    applier_env: dict[str, str],
    amqp_url: str,
) -> None:
    event = completed()
    # Wrong first (404: dead-lettered at once), fixed afterwards.
    stub_api.results[str(event.job_id)] = [problem(404, "JOB_NOT_FOUND"), APPLIED]
    await bus.publish_result(event)
    await wait_until(lambda: bool(stub_api.calls_for(event.job_id, dead=True)), 10, "/dead")
    entry = (await dead_letters_by_job(amqp_url, bus.topology))[str(event.job_id)]
    assert entry.id == str(event.message_id)
    assert entry.attempts == 1

    code, out, err = await run_cli(applier_env, "dlq", "replay", entry.id)
    assert code == 0, err
    assert entry.id in out
    await wait_until(lambda: len(stub_api.calls_for(event.job_id)) == 2, 10, "the replay")
    assert [c.status for c in stub_api.calls_for(event.job_id)] == [404, 200]
    assert str(event.job_id) not in await dead_letters_by_job(amqp_url, bus.topology)

    with pytest.raises(DlqMessageNotFoundError, match="no-such-id"):
        await replay(amqp_url, bus.topology, "no-such-id")


async def test_a_compile_request_dead_lettered_by_the_broker_ends_as_a_dead_job(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus, declared: Topology
) -> None:
    request = compile_request()
    # The api is unwell the first two times it is told.
    stub_api.deads[str(request.job_id)] = [problem(503, "UNAVAILABLE")] * 2 + [MARKED_DEAD]
    await bus.publish(
        request.model_dump_json().encode(),
        exchange=declared.exchange.name,
        routing_key=topo_names.COMPILE_REQUESTED_V1,
        correlation_id=str(request.job_id),
    )
    # A compiler that crashes on it every time: the broker's delivery limit dead-letters it.
    queue = await bus.channel.get_queue(declared.compile_queue.name, ensure=False)
    for _ in range(topo_names.COMPILE_DELIVERY_LIMIT + 1):
        message = await queue.get(no_ack=False, timeout=5)
        assert message is not None
        await message.reject(requeue=True)
    await wait_until(
        lambda: (
            [c.status for c in stub_api.calls_for(request.job_id, dead=True)] == [503, 503, 200]
        ),
        15,
        "the job marked dead after the api came back",
    )
    body = stub_api.calls_for(request.job_id, dead=True)[-1].body
    assert body["queue"] == declared.compile_dlq.name
    assert body["attempts"] == topo_names.COMPILE_DELIVERY_LIMIT + 1
    assert "delivery_limit" in body["reason"]


async def test_ops_endpoints_report_readiness_and_metrics(
    applier: ServiceProcess, stub_api: StubApi, applier_env: dict[str, str]
) -> None:
    ops = f"http://127.0.0.1:{applier_env['TEXPIPE_OPS_PORT']}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ops}/ready") as response:
            assert response.status == 200, await response.text()
        await stub_api.stop()
        try:
            async with http.get(f"{ops}/ready") as response:
                assert response.status == 503
                assert (await response.json())["detail"] == "unreachable: api"
        finally:
            await stub_api.start()
        async with http.get(f"{ops}/metrics") as response:
            text = await response.text()
    assert 'texpipe_applier_results_total{answer="applied"}' in text
    assert 'texpipe_applier_retries_total{answer="result_invalid"}' in text
    assert 'texpipe_applier_dead_lettered_total{code="MESSAGE_MALFORMED"}' in text
    assert "texpipe_applier_dead_jobs_total" in text


async def test_dlq_replay_all_re_drives_both_queues_and_counts_replays(
    applier: ServiceProcess,
    stub_api: StubApi,
    bus: Bus,
    applier_env: dict[str, str],
    amqp_url: str,
) -> None:
    topo = bus.topology
    fixable = [completed() for _ in range(2)]
    for event in fixable:
        stub_api.results[str(event.job_id)] = [problem(404, "JOB_NOT_FOUND"), APPLIED]
        await bus.publish_result(event)
    garbage_job = uuid4()
    await bus.publish(
        b"\x00\x01",
        exchange=topo.exchange.name,
        routing_key=topo_names.COMPILE_COMPLETED_V1,
        correlation_id=str(garbage_job),
    )
    # A compile request dead-lettered the way the broker does it: to the DLX, keyed by the
    # compile queue's name, with x-death.
    request = compile_request()
    await bus.publish(
        request.model_dump_json().encode(),
        exchange=topo.dead_letter_exchange.name,
        routing_key=topo.compile_queue.name,
        correlation_id=str(request.job_id),
        message_id=str(request.message_id),
        headers={"x-death": [{"count": 1, "reason": "rejected", "queue": topo.compile_queue.name}]},
    )
    jobs = [e.job_id for e in fixable] + [garbage_job, request.job_id]
    await wait_until(lambda: all(stub_api.calls_for(j, dead=True) for j in jobs), 10, "/dead")
    assert stub_api.calls_for(request.job_id, dead=True)[0].body["queue"] == topo.compile_dlq.name

    code, out, err = await run_cli(applier_env, "dlq", "replay", "--all")
    assert code == 0, err
    for message_id in [e.message_id for e in fixable] + [request.message_id]:
        assert str(message_id) in out
    await wait_until(
        lambda: all(len(stub_api.calls_for(e.job_id)) == 2 for e in fixable), 10, "replays"
    )
    # What cannot be fixed by a replay comes straight back, its replay counted.
    await wait_until(lambda: len(stub_api.calls_for(garbage_job, dead=True)) == 2, 10, "/dead")
    by_job = await dead_letters_by_job(amqp_url, topo)
    assert by_job[str(garbage_job)].replays == 1
    assert by_job[str(garbage_job)].attempts == 1
    assert not {str(e.job_id) for e in fixable} & set(by_job)
    assert str(request.job_id) not in by_job
    # The compile request is back in the compile queue, as new: attempt 0, one replay.
    compile_queue = await bus.channel.get_queue(topo.compile_queue.name, ensure=False)
    replayed = None
    while (message := await compile_queue.get(no_ack=False, fail=False)) is not None:
        await message.ack()
        if message.message_id == str(request.message_id):
            replayed = message
    assert replayed is not None
    assert replayed.headers[topo_names.HEADER_ATTEMPT] == 0
    assert replayed.headers[topo_names.HEADER_REPLAYS] == 1
    assert "x-death" not in replayed.headers
    assert topo_names.HEADER_REASON not in replayed.headers


async def test_sigterm_lets_the_call_in_flight_finish_and_sigkill_loses_nothing(
    applier: ServiceProcess, stub_api: StubApi, bus: Bus
) -> None:
    """Runs last: it stops and restarts the module's applier."""
    slow = Reply(200, {"status": "applied", "job_state": "applied"}, delay_s=0.8)
    graceful, killed = completed(), completed()
    stub_api.results[str(graceful.job_id)] = [slow]
    await bus.publish_result(graceful)
    await wait_until(lambda: bool(stub_api.calls_for(graceful.job_id)), 10, "the call")
    assert await asyncio.to_thread(applier.stop) == 0, applier.tail()

    await asyncio.to_thread(applier.start)
    stub_api.results[str(killed.job_id)] = [slow, Reply(200, {"status": "already_applied"})]
    await bus.publish_result(killed)
    await wait_until(lambda: bool(stub_api.calls_for(killed.job_id)), 10, "the call")
    await asyncio.to_thread(applier.kill)  # mid-call: the result is not acked
    await asyncio.to_thread(applier.start)
    await wait_until(lambda: len(stub_api.calls_for(killed.job_id)) == 2, 10, "the redelivery")
    # The graceful one was acked before the exit: it never came back.
    assert len(stub_api.calls_for(graceful.job_id)) == 1
