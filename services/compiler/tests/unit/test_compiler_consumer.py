"""Every delivery is settled by the kit's one policy: ack, dead-letter, hold, or give back.

Fakes stand in for the broker, S3 and the compile manager (the real ones are exercised by the
service and end-to-end tests); what is checked is how the consumer settled each delivery and
that an outage never rejects one.
"""

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any, cast

import pytest
from botocore.exceptions import EndpointConnectionError
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from pamqp.commands import Basic
from texpipe_compiler.cancels import RecentCancels
from texpipe_compiler.compile_manager import CompileManager
from texpipe_compiler.consumer import CompileConsumer
from texpipe_compiler.errors import SandboxError
from texpipe_compiler.starts import PREFIX, StartLedger
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.topology import build_topology
from texpipe_contracts.v1 import (
    CompileCancelRequested,
    CompileCompleted,
    CompileErrorInfo,
    CompileRequested,
    Engine,
    Outcome,
    SourceBundleRef,
)
from texpipe_servicekit import rabbit
from texpipe_servicekit.gate import DependencyGate
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.fakes import FakeMessage

REQUEST = CompileRequested(
    job_id=uuid.uuid4(),
    document_id=uuid.uuid4(),
    revision=1,
    source=SourceBundleRef(key="sources/x.tar", sha256="a" * 64, size=10),
    engine=Engine.PDFLATEX,
)
GOOD = REQUEST.model_dump_json().encode()
ACK = Basic.Ack(delivery_tag=1)


class FakeBroker:
    """Answers publishes with ``answers`` in turn (the last one from then on); an exception
    is raised instead of answered."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.published: list[dict[str, Any]] = []

    async def publish(self, body: bytes, **kwargs: Any) -> object:
        self.published.append({"body": body, **kwargs})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def ping(self, timeout: float) -> bool:
        return True


class FakeS3:
    """Keys in memory; ``fail`` makes the next calls raise as an unreachable S3 does."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail = 0

    def _maybe_fail(self) -> None:
        if self.fail:
            self.fail -= 1
            raise EndpointConnectionError(endpoint_url="http://s3.invalid")

    async def keys(self, prefix: str, *, limit: int = 1000) -> list[str]:
        self._maybe_fail()
        return [key for key in self.objects if key.startswith(prefix)]

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self._maybe_fail()
        self.objects[key] = data

    async def delete(self, keys: list[str]) -> None:
        self._maybe_fail()
        for key in keys:
            self.objects.pop(key, None)

    async def ping(self) -> None:
        return None


class FakeManager:
    """Compiles in ``seconds``; counts its compiles."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds, self.compiles = seconds, 0

    async def compile(self, request: CompileRequested) -> CompileCompleted:
        self.compiles += 1
        await asyncio.sleep(self.seconds)
        return CompileCompleted(
            job_id=request.job_id,
            document_id=request.document_id,
            revision=request.revision,
            outcome=Outcome.FAILED,
            error=CompileErrorInfo(code=ErrorCode.LATEX_ERROR, message="Undefined control"),
            duration_ms=1,
            engine=request.engine,
            engine_version="test",
        )


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rabbit, "FAILURE_PAUSE_S", 0.0)


def consumer_for(
    broker: FakeBroker,
    manager: FakeManager,
    s3: FakeS3 | None = None,
    deadline_s: float = 5.0,
) -> tuple[CompileConsumer, DependencyGate]:
    s3 = s3 or FakeS3()

    async def sandbox_up() -> None:
        return None

    gate = DependencyGate(
        {"s3": s3.ping, "broker": lambda: broker.ping(1), "sandbox": sandbox_up}, base_s=0.001
    )
    consumer = CompileConsumer(
        cast("RabbitBroker", broker), build_topology("unit"), cast("CompileManager", manager),
        ledger=StartLedger(cast("S3Store", s3), "me"), gate=gate, deadline_s=deadline_s,
        max_starts=3, concurrency=2,
    )  # fmt: skip
    return consumer, gate


async def handle(body: bytes, broker: FakeBroker, manager: FakeManager, **kwargs: Any) -> list[str]:
    consumer, gate = consumer_for(broker, manager, **kwargs)
    message = FakeMessage(body)
    await consumer.handle(cast("RabbitMessage", message))
    await gate.close()
    return message.settled


async def test_a_confirmed_result_acks_the_request_and_clears_its_start() -> None:
    broker, s3 = FakeBroker(ACK), FakeS3()
    assert await handle(GOOD, broker, FakeManager(), s3=s3) == ["ack"]
    assert broker.published[0]["mandatory"] is True
    assert s3.objects == {}


async def test_an_unconfirmed_result_is_held_until_the_broker_confirms() -> None:
    # aiormq resolves an unroutable (returned) publish with the returned message, not an Ack.
    returned = SimpleNamespace(delivery=SimpleNamespace(name="Basic.Return"))
    for refusal in (returned, None, Basic.Nack(delivery_tag=1), ConnectionError("gone")):
        broker, manager = FakeBroker(refusal, ACK), FakeManager()
        assert await handle(GOOD, broker, manager) == ["ack"]
        assert len(broker.published) == 2


async def test_s3_unreachable_holds_the_message_and_spends_nothing() -> None:
    s3 = FakeS3()
    s3.fail = 3
    broker, manager = FakeBroker(ACK), FakeManager()
    assert await handle(GOOD, broker, manager, s3=s3) == ["ack"]
    assert manager.compiles == 1
    assert s3.objects == {}


class BrokenSandboxManager(FakeManager):
    """The first ``failures`` compiles fail as a host whose sandbox cannot start."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def compile(self, request: CompileRequested) -> CompileCompleted:
        if self.failures:
            self.failures -= 1
            self.compiles += 1
            raise SandboxError("the sandbox did not start: bwrap: No permissions")
        return await super().compile(request)


async def test_a_sandbox_that_will_not_start_holds_the_message_and_spends_nothing() -> None:
    broker, manager = FakeBroker(ACK), BrokenSandboxManager(failures=2)
    assert await handle(GOOD, broker, manager) == ["ack"]
    assert manager.compiles == 3, "held and tried again once the sandbox probe answered"


async def test_a_message_past_its_deadline_is_given_back_counted() -> None:
    broker, s3 = FakeBroker(ACK), FakeS3()
    settled = await handle(GOOD, broker, FakeManager(seconds=10), s3=s3, deadline_s=0.05)
    assert settled == ["reject(requeue=True)"]
    assert broker.published == []
    assert list(s3.objects) == [f"{PREFIX}{REQUEST.job_id}/me"]  # a start never finished


async def test_a_request_that_killed_three_compilers_is_dead_lettered() -> None:
    broker, s3, manager = FakeBroker(ACK), FakeS3(), FakeManager()
    for dead in ("a", "b", "c"):
        s3.objects[f"{PREFIX}{REQUEST.job_id}/{dead}"] = b""
    assert await handle(GOOD, broker, manager, s3=s3) == ["ack"]
    assert manager.compiles == 0
    headers = broker.published[0]["headers"]
    assert headers["x-texpipe-reason"] == "compiled 3 times without finishing (the compiler died)"
    assert headers["x-texpipe-error-code"] == "COMPILER_DIED"
    assert s3.objects == {}


async def test_two_starts_that_died_are_not_yet_poison() -> None:
    broker, s3, manager = FakeBroker(ACK), FakeS3(), FakeManager()
    for dead in ("a", "b"):
        s3.objects[f"{PREFIX}{REQUEST.job_id}/{dead}"] = b""
    assert await handle(GOOD, broker, manager, s3=s3) == ["ack"]
    assert manager.compiles == 1
    assert "x-texpipe-reason" not in (broker.published[0]["headers"] or {})


async def test_a_redelivery_joins_the_compile_in_flight() -> None:
    broker, manager = FakeBroker(ACK), FakeManager(seconds=0.2)
    consumer, gate = consumer_for(broker, manager)
    first, second = FakeMessage(GOOD), FakeMessage(GOOD)
    await asyncio.gather(
        consumer.handle(cast("RabbitMessage", first)),
        consumer.handle(cast("RabbitMessage", second)),
    )
    await gate.close()
    assert (first.settled, second.settled) == (["ack"], ["ack"])
    assert manager.compiles == 1
    ids = {p["message_id"] for p in broker.published}
    assert len(ids) == 1  # the same result twice: the applier recognises the duplicate


async def test_a_bad_body_is_dead_lettered_then_acked() -> None:
    broker = FakeBroker(ACK)
    assert await handle(b"{not json", broker, FakeManager()) == ["ack"]
    assert broker.published[0]["headers"]["x-texpipe-error-code"] == "MESSAGE_MALFORMED"
    v2 = json.dumps({"schema_name": "latex.compile.requested", "schema_version": 2}).encode()
    assert await handle(v2, broker, FakeManager()) == ["ack"]
    assert broker.published[1]["headers"]["x-texpipe-error-code"] == "MESSAGE_UNKNOWN_VERSION"


async def test_a_dead_letter_the_broker_refuses_is_held_then_written() -> None:
    broker = FakeBroker(ConnectionError("broker gone"), None, ACK)
    assert await handle(b"{not json", broker, FakeManager()) == ["ack"]
    assert len(broker.published) == 3


class SpanManager(FakeManager):
    """Records, per job, which other jobs were compiling at the same time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.running: set[uuid.UUID] = set()
        self.beside: dict[uuid.UUID, set[uuid.UUID]] = {}

    async def compile(self, request: CompileRequested) -> CompileCompleted:
        for job in self.running:
            self.beside.setdefault(job, set()).add(request.job_id)
        self.beside.setdefault(request.job_id, set()).update(self.running)
        self.running.add(request.job_id)
        try:
            return await super().compile(request)
        finally:
            self.running.discard(request.job_id)


async def test_a_request_a_compiler_died_on_compiles_alone() -> None:
    s3, manager = FakeS3(), SpanManager(seconds=0.05)
    suspect = REQUEST.model_copy(update={"job_id": uuid.uuid4()})
    s3.objects[f"{PREFIX}{suspect.job_id}/dead-instance"] = b""
    healthy = [REQUEST.model_copy(update={"job_id": uuid.uuid4()}) for _ in range(3)]
    consumer, gate = consumer_for(FakeBroker(ACK), manager, s3)
    messages = [
        FakeMessage(r.model_dump_json().encode()) for r in [healthy[0], suspect, *healthy[1:]]
    ]
    await asyncio.gather(*(consumer.handle(cast("RabbitMessage", m)) for m in messages))
    await gate.close()
    assert [m.settled for m in messages] == [["ack"]] * 4
    assert manager.beside[suspect.job_id] == set()  # nothing compiled beside the suspect
    assert any(manager.beside[h.job_id] for h in healthy)  # healthy ones share (concurrency 2)
    assert s3.objects == {}


def cancel_of(request: CompileRequested) -> bytes:
    return (
        CompileCancelRequested(
            job_id=request.job_id, document_id=request.document_id, revision=request.revision
        )
        .model_dump_json()
        .encode()
    )


async def test_a_cancel_stops_the_compile_and_acks_without_a_result() -> None:
    broker, s3, manager = FakeBroker(ACK), FakeS3(), FakeManager(seconds=30)
    consumer, gate = consumer_for(broker, manager, s3=s3, deadline_s=60)
    message = FakeMessage(GOOD)
    handling = asyncio.create_task(consumer.handle(cast("RabbitMessage", message)))
    while manager.compiles == 0:
        await asyncio.sleep(0.01)
    consumer.on_cancel(cancel_of(REQUEST))
    async with asyncio.timeout(2):
        await handling
    await gate.close()
    assert message.settled == ["ack"]
    assert broker.published == []
    assert s3.objects == {}, "a stopped compile is no start that died"


async def test_a_request_cancelled_before_it_arrives_is_skipped() -> None:
    broker, manager = FakeBroker(ACK), FakeManager()
    consumer, gate = consumer_for(broker, manager)
    consumer.on_cancel(cancel_of(REQUEST))
    consumer.on_cancel(b"not a cancel")  # logged and dropped
    message = FakeMessage(GOOD)
    await consumer.handle(cast("RabbitMessage", message))
    await gate.close()
    assert (message.settled, manager.compiles, broker.published) == (["ack"], 0, [])


def test_recent_cancels_forget_the_oldest_past_their_capacity() -> None:
    cancels = RecentCancels(capacity=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for job in (first, second, third):
        cancels.add(job)
    assert (first in cancels, second in cancels, third in cancels, len(cancels)) == (
        False,
        True,
        True,
        2,
    )
