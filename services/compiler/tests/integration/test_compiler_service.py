"""The compiler as a process, against the real RabbitMQ and SeaweedFS.

Requests are published the way the api publishes them; results are read from the apply
queue the way the applier reads them.
"""

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import pytest_asyncio
from compiler_helpers import (  # type: ignore[import-not-found]
    CORPUS,
    MANIFEST,
    check_against_manifest,
    outputs_of,
    processes_of,
    project_files,
    raw_tar,
)
from faststream.rabbit import RabbitBroker
from prometheus_client.parser import text_string_to_metric_families
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_contracts import topology as topo
from texpipe_contracts.bundle import source_key
from texpipe_contracts.decoding import decode_one_of
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.topology import Topology, build_topology
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileRequested,
    CompileStarted,
    Engine,
    Outcome,
    SourceBundleRef,
)
from texpipe_servicekit.rabbit import declare_topology
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.plugin import delete_topology
from texpipe_testing.processes import ServiceProcess
from texpipe_testing.servers import free_port


def busy_doc() -> list[ProjectFile]:
    """A document that keeps TeX busy for a second or two, unique (never a cache hit)."""
    source = (
        "\\documentclass{article}\\begin{document}\\newcount\\n"
        "\\loop\\advance\\n by 1 \\ifnum\\n<3000000 \\repeat "
        f"Done {secrets.token_hex(6)}.\\end{{document}}\n"
    )
    return [ProjectFile("main.tex", source.encode())]


RESULT_TIMEOUT_S = 60.0


class Pipeline:
    """Publishes compile requests and collects results from the apply queue."""

    def __init__(self, amqp_url: str, topology: Topology, store: S3Store) -> None:
        self._url, self.topology, self._store = amqp_url, topology, store
        self._results: dict[str, asyncio.Future[CompileCompleted]] = {}
        self.started: dict[str, CompileStarted] = {}
        """The compile-started notices seen, by job id (they share the apply queue)."""

    async def __aenter__(self) -> "Pipeline":
        self._connection = await aio_pika.connect(self._url)
        self.channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self.channel.get_exchange(self.topology.exchange.name)
        apply_queue = await self.channel.get_queue(self.topology.apply_queue.name)
        await apply_queue.consume(self._on_result)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._connection.close()

    async def _on_result(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = decode_one_of(message.body, CompileCompleted, CompileStarted)
            assert message.correlation_id == str(event.job_id)
            if isinstance(event, CompileStarted):
                self.started[str(event.job_id)] = event
            else:
                assert isinstance(event, CompileCompleted)
                self._future(str(event.job_id)).set_result(event)

    def _future(self, job_id: str) -> "asyncio.Future[CompileCompleted]":
        return self._results.setdefault(job_id, asyncio.get_running_loop().create_future())

    async def publish_raw(self, body: bytes, **properties: Any) -> None:
        """Publish any body to the compile routing key."""
        await self._exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties),
            routing_key=topo.COMPILE_REQUESTED_V1,
        )

    async def request(
        self, files: list[ProjectFile], engine: Engine, *, timeout_ms: int = 60_000
    ) -> CompileRequested:
        """Upload the bundle and publish a compile request for it."""
        bundle = raw_tar(files)
        digest = hashlib.sha256(bundle).hexdigest()
        await self._store.put(source_key(digest), bundle, content_type="application/x-tar")
        request = CompileRequested(
            job_id=uuid.uuid4(),
            document_id=uuid.uuid4(),
            revision=1,
            source=SourceBundleRef(key=source_key(digest), sha256=digest, size=len(bundle)),
            engine=engine,
            timeout_ms=timeout_ms,
        )
        await self.publish_raw(
            request.model_dump_json().encode(),
            correlation_id=request.correlation_id,
            message_id=str(request.message_id),
            content_type="application/json",
        )
        return request

    async def result(
        self, request: CompileRequested, timeout: float = RESULT_TIMEOUT_S
    ) -> CompileCompleted:
        """The result of ``request`` once the compiler published it."""
        return await asyncio.wait_for(self._future(str(request.job_id)), timeout)

    async def dead_letters(
        self, count: int, timeout: float = 30.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """The first ``count`` messages of the compile DLQ (acked)."""
        queue = await self.channel.get_queue(self.topology.compile_dlq.name)
        found: list[aio_pika.abc.AbstractIncomingMessage] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.2)
                continue
            await message.ack()
            found.append(message)
        return found


def compiler_process(
    service_env: dict[str, str], namespace: str, log_path: Path, uid_base: int
) -> ServiceProcess:
    """The compiler as ``python -m texpipe_compiler`` in ``namespace``."""
    port = free_port()
    env = {
        **service_env,
        "TEXPIPE_NAMESPACE": namespace,
        "TEXPIPE_OPS_PORT": str(port),
        "TEXPIPE_COMPILER_CONCURRENCY": "2",
        "TEXPIPE_SANDBOX_UID_BASE": str(uid_base),
        "TEXPIPE_SHUTDOWN_GRACE_S": "5",
        "TEXPIPE_LOG_LEVEL": "INFO",
        # A spare sandbox is a live process of these uids: the tests here count them (the
        # e2e tests run with spares).
        "TEXPIPE_SANDBOX_SPARES": "false",
    }
    return ServiceProcess(
        "texpipe_compiler", env=env, log_path=log_path, health_url=f"http://127.0.0.1:{port}/health"
    )


def ops_url(process: ServiceProcess, path: str) -> str:
    """An ops endpoint of ``process``."""
    assert process.health_url is not None
    return process.health_url.removesuffix("/health") + path


def log_events(process: ServiceProcess, event: str, job_id: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``process`` for ``event`` about ``job_id``."""
    found = []
    for line in process.log_path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event and record.get("job_id") == job_id:
            found.append(record)
    return found


@pytest.fixture(scope="module")
def service_uids() -> range:
    """Sandbox uids of this module's compilers: 16 of their own as root; the tests' own uid
    otherwise (a compiler that is not root runs every sandbox as itself)."""
    if os.geteuid() != 0:
        return range(os.geteuid(), os.geteuid() + 1)
    base = 90_000 + secrets.randbelow(1000) * 16
    return range(base, base + 16)


def crash_uids(service_uids: range) -> range:
    """The uids of the crash tests' compilers: the upper half of ``service_uids`` as root."""
    return (
        range(service_uids.start + 8, service_uids.stop) if len(service_uids) > 8 else service_uids
    )


@pytest.fixture(scope="module")
def compiler(
    service_env: dict[str, str],
    declared_topology: Topology,
    tmp_path_factory: pytest.TempPathFactory,
    service_uids: range,
    tectonic_dir: Path,
) -> Iterator[ServiceProcess]:
    log_path = tmp_path_factory.mktemp("compiler") / "compiler.log"
    process = compiler_process(
        service_env, declared_topology.namespace, log_path, service_uids.start
    )
    with process:
        yield process


@pytest_asyncio.fixture(loop_scope="session")
async def pipeline(
    amqp_url: str, declared_topology: Topology, s3_store: S3Store
) -> AsyncIterator[Pipeline]:
    async with Pipeline(amqp_url, declared_topology, s3_store) as p:
        yield p


async def test_the_corpus_compiles_through_the_running_service(
    compiler: ServiceProcess, pipeline: Pipeline, s3_store: S3Store, service_uids: range
) -> None:
    requests = {
        name: await pipeline.request(
            project_files(CORPUS / name),
            Engine(spec["engine"]),
            timeout_ms=3000 if name == "slow-loop" else 60_000,
        )
        for name, spec in MANIFEST.items()
    }
    for name, request in requests.items():
        result = await pipeline.result(request)
        pdf, _ = await outputs_of(s3_store, result)
        check_against_manifest(name, result, pdf)
        if name == "slow-loop":
            assert result.duration_ms < 3000 + 1000
    assert list(processes_of(service_uids)) == []


def metric_totals(process: ServiceProcess) -> dict[str, float]:
    """Every sample of the compiler's /metrics, summed over label sets, by sample name."""
    with urllib.request.urlopen(ops_url(process, "/metrics")) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


async def test_a_repeated_source_is_a_cache_hit_without_tex(
    compiler: ServiceProcess, pipeline: Pipeline, s3_store: S3Store
) -> None:
    files = [
        ProjectFile(
            "main.tex",
            b"\\documentclass{article}\\begin{document}Cache me "
            + secrets.token_hex(4).encode()
            + b".\\end{document}\n",
        )
    ]
    before = metric_totals(compiler)
    first = await pipeline.result(await pipeline.request(files, Engine.PDFLATEX))
    after_first = metric_totals(compiler)
    second_request = await pipeline.request(files, Engine.PDFLATEX)
    second = await pipeline.result(second_request)
    after_second = metric_totals(compiler)
    assert first.outcome is second.outcome is Outcome.SUCCEEDED
    assert not first.cache_hit
    assert second.cache_hit
    assert second.pdf == first.pdf
    assert log_events(compiler, "compile_started", str(second_request.job_id)) == []
    # A sandboxed compile announces itself (in the background: maybe after its result); a
    # cache hit never does.
    async with asyncio.timeout(10):
        while str(first.job_id) not in pipeline.started:
            await asyncio.sleep(0.05)
    notice = pipeline.started[str(first.job_id)]
    assert (notice.document_id, notice.revision) == (first.document_id, first.revision)
    assert str(second.job_id) not in pipeline.started
    started, cpu = "texpipe_compiles_started_total", "texpipe_sandbox_cpu_seconds_total"
    assert after_first[started] - before.get(started, 0) == 1
    assert after_second[started] == after_first[started]  # a cache hit starts nothing
    # The sandbox's pdflatex alone takes ~0.2 s of CPU here.
    assert after_first[cpu] - before.get(cpu, 0) >= 0.05
    assert after_second["texpipe_compile_cache_hits_total"] >= 1
    assert "texpipe_compile_duration_seconds_bucket" in after_second
    with urllib.request.urlopen(ops_url(compiler, "/ready")) as response:
        assert json.loads(response.read())["status"] == "ready"


def hello_doc(text: str = "Hello") -> list[ProjectFile]:
    """A one-page document, unique (never a cache hit)."""
    source = (
        f"\\documentclass{{article}}\\begin{{document}}{text} {secrets.token_hex(6)}."
        "\\end{document}\n"
    )
    return [ProjectFile("main.tex", source.encode())]


async def test_unparseable_and_unknown_version_messages_are_dead_lettered(
    compiler: ServiceProcess, pipeline: Pipeline
) -> None:
    """Each bad message is dead-lettered with its reason and acked: none of them holds one of
    the compiler's two prefetch slots, so a good request after them still compiles."""
    json_type = {"content_type": "application/json"}
    await pipeline.publish_raw(b"{not json", message_id="bad-1", **json_type)
    await pipeline.publish_raw(
        json.dumps({"schema_name": "latex.compile.requested", "schema_version": 2}).encode(),
        message_id="bad-2",
        **json_type,
    )
    await pipeline.publish_raw(b"[" * 50_000 + b"]" * 50_000, message_id="bad-3", **json_type)
    await pipeline.publish_raw(b"\xff\xfe not utf-8", message_id="bad-4")
    good = await pipeline.request(hello_doc(), Engine.PDFLATEX)
    dead = await pipeline.dead_letters(4)
    reasons = {m.message_id: str(m.headers[topo.HEADER_REASON]) for m in dead}
    codes = {m.message_id: m.headers[topo.HEADER_ERROR_CODE] for m in dead}
    assert "not JSON" in reasons["bad-1"]
    assert "version 2" in reasons["bad-2"]
    assert "nested" in reasons["bad-3"]
    assert "not JSON" in reasons["bad-4"]
    assert codes == {
        "bad-1": ErrorCode.MESSAGE_MALFORMED.value,
        "bad-2": ErrorCode.MESSAGE_UNKNOWN_VERSION.value,
        "bad-3": ErrorCode.MESSAGE_MALFORMED.value,
        "bad-4": ErrorCode.MESSAGE_MALFORMED.value,
    }
    assert (await pipeline.result(good)).outcome is Outcome.SUCCEEDED
    assert compiler.running


async def test_a_result_the_broker_cannot_route_is_published_again(
    compiler: ServiceProcess, pipeline: Pipeline
) -> None:
    """A returned publish is not a confirm: the request is held (the consumer pauses for the
    broker), not acked, and its result reaches the apply queue once the queue is bound again."""
    exchange = pipeline.topology.exchange.name
    queue = await pipeline.channel.get_queue(pipeline.topology.apply_queue.name)
    await queue.unbind(exchange, topo.COMPILE_COMPLETED_V1)
    try:
        request = await pipeline.request(hello_doc("Unroutable"), Engine.PDFLATEX)
        job_id = str(request.job_id)
        # The compiler tried to publish: either it paused and holds the request (right) or it
        # counted the returned publish as done (the bug).
        await wait_for_any_event(compiler, {"consumer_paused", "result_published"}, job_id)
    finally:
        await queue.bind(exchange, topo.COMPILE_COMPLETED_V1)
    result = await pipeline.result(request, timeout=30)
    assert result.outcome is Outcome.SUCCEEDED
    # Logged once the confirm came back, which may be after the result reached us.
    await wait_for_event(compiler, "result_published", job_id)
    assert log_events(compiler, "consumer_paused", job_id)


async def wait_for_event(process: ServiceProcess, event: str, job_id: str) -> None:
    """Until ``process`` logged ``event`` for ``job_id``."""
    await wait_for_any_event(process, {event}, job_id)


async def wait_for_any_event(process: ServiceProcess, events: set[str], job_id: str) -> None:
    """Until ``process`` logged one of ``events`` for ``job_id``."""
    deadline = time.monotonic() + RESULT_TIMEOUT_S
    while not any(log_events(process, event, job_id) for event in events):
        assert process.running, process.tail()
        assert time.monotonic() < deadline, f"none of {events} for {job_id}:\n{process.tail()}"
        await asyncio.sleep(0.05)


async def wait_no_process(uids: range, timeout: float = 5.0) -> None:
    """Until no process runs as one of ``uids`` (a sandbox outliving its compiler fails)."""
    deadline = time.monotonic() + timeout
    while left := list(processes_of(uids)):
        if time.monotonic() > deadline:
            raise AssertionError(f"left running: {left}\n{describe_processes(uids)}")
        await asyncio.sleep(0.05)


def describe_processes(uids: range) -> str:
    """ps lines and /proc status of the processes running as ``uids`` (for a failure)."""
    users = ",".join(map(str, uids))
    pids = subprocess.run(
        ["ps", "-o", "pid=", "-u", users], capture_output=True, text=True, check=False
    ).stdout.split()
    detail = subprocess.run(
        ["ps", "-o", "pid,ppid,uid,stat,args", "-u", users],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for pid in pids:
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{pid}/status").read_text()
            detail += "".join(
                line + "\n"
                for line in status.splitlines()
                if line.startswith(("Pid", "PPid", "NSpid", "State", "Sig"))
            )
    return detail


@pytest_asyncio.fixture(loop_scope="session")
async def crash_topology(amqp_url: str) -> AsyncIterator[Topology]:
    """A namespace of its own: no other compiler may take the messages these tests kill."""
    topology = build_topology("t" + secrets.token_hex(5))
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.connect()
        await declare_topology(broker, topology)
    yield topology
    await delete_topology(amqp_url, topology)


async def kill_mid_compile(
    service_env: dict[str, str], topology: Topology, log_path: Path, uids: range, job_id: str
) -> None:
    """Start a compiler, SIGKILL it (alone) once it compiles ``job_id``; its sandbox dies too."""
    process = compiler_process(service_env, topology.namespace, log_path, uids.start)
    await asyncio.to_thread(process.start)
    try:
        await wait_for_event(process, "compile_started", job_id)
        # Mid-compile: TeX runs. (Killed during bwrap's own setup, bwrap 0.8 can strand its
        # sandbox's init: its launcher takes the parent-death signal before it releases it.)
        while not {"pdflatex", "pdftex"} & set(processes_of(uids)):
            assert process.running, process.tail()
            await asyncio.sleep(0.02)
        assert process.process is not None
        os.kill(process.process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.process.wait)
        await wait_no_process(uids)
    finally:
        process.kill()


async def test_a_compiler_killed_mid_compile_gets_its_job_redelivered(
    service_env: dict[str, str],
    crash_topology: Topology,
    amqp_url: str,
    s3_store: S3Store,
    tmp_path: Path,
    service_uids: range,
    tectonic_dir: Path,
) -> None:
    uids = crash_uids(service_uids)
    async with Pipeline(amqp_url, crash_topology, s3_store) as pipeline:
        request = await pipeline.request(busy_doc(), Engine.PDFLATEX)
        await kill_mid_compile(
            service_env, crash_topology, tmp_path / "a.log", uids, str(request.job_id)
        )
        second = compiler_process(
            service_env, crash_topology.namespace, tmp_path / "b.log", uids.start
        )
        await asyncio.to_thread(second.start)
        try:
            result = await pipeline.result(request)
        finally:
            await asyncio.to_thread(second.stop)
    assert result.outcome is Outcome.SUCCEEDED, result.error


async def test_a_request_that_kills_every_compiler_ends_in_the_dead_letter_queue(
    service_env: dict[str, str],
    crash_topology: Topology,
    amqp_url: str,
    s3_store: S3Store,
    tmp_path: Path,
    service_uids: range,
    tectonic_dir: Path,
) -> None:
    uids = crash_uids(service_uids)
    async with Pipeline(amqp_url, crash_topology, s3_store) as pipeline:
        request = await pipeline.request(busy_doc(), Engine.PDFLATEX)
        # Three compilers die on it (TEXPIPE_COMPILE_MAX_STARTS' default); the fourth start
        # sees their markers and dead-letters it with the reason, long before the queue's own
        # delivery limit (a backstop) would.
        for delivery in range(3):
            log_path = tmp_path / f"delivery-{delivery}.log"
            await kill_mid_compile(service_env, crash_topology, log_path, uids, str(request.job_id))
        last = compiler_process(
            service_env, crash_topology.namespace, tmp_path / "d.log", uids.start
        )
        await asyncio.to_thread(last.start)
        try:
            dead = await pipeline.dead_letters(1)
        finally:
            await asyncio.to_thread(last.stop)
    assert [m.correlation_id for m in dead] == [request.correlation_id]
    assert dead[0].headers["x-texpipe-error-code"] == "COMPILER_DIED"
    reason = dead[0].headers["x-texpipe-reason"]
    assert reason == "compiled 3 times without finishing (the compiler died)"
    assert await s3_store.keys(f"compiler/starts/{request.job_id}/") == []


async def test_sigterm_lets_the_in_flight_compile_finish_then_exits(
    service_env: dict[str, str],
    crash_topology: Topology,
    amqp_url: str,
    s3_store: S3Store,
    tmp_path: Path,
    service_uids: range,
    tectonic_dir: Path,
) -> None:
    uids = crash_uids(service_uids)
    async with Pipeline(amqp_url, crash_topology, s3_store) as pipeline:
        process = compiler_process(
            service_env, crash_topology.namespace, tmp_path / "c.log", uids.start
        )
        await asyncio.to_thread(process.start)
        try:
            request = await pipeline.request(busy_doc(), Engine.PDFLATEX)
            await wait_for_event(process, "compile_started", str(request.job_id))
            assert process.process is not None
            process.process.send_signal(signal.SIGTERM)
            result = await pipeline.result(request)
            assert await asyncio.to_thread(process.process.wait, 30) == 0
        finally:
            process.kill()
    assert result.outcome is Outcome.SUCCEEDED
