"""Every delivery is settled: acked, or given back when anything fails or overruns.

Fakes stand in for the broker and the compile manager (the real ones are exercised by the
service tests); what is checked is which of ack / reject the consumer chose.
"""

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any, cast

import pytest
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from pamqp.commands import Basic
from texpipe_compiler import consumer as consumer_module
from texpipe_compiler.compile_manager import CompileManager
from texpipe_compiler.consumer import CompileConsumer
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.topology import build_topology
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileErrorInfo,
    CompileRequested,
    Engine,
    Outcome,
    SourceBundleRef,
)

REQUEST = CompileRequested(
    job_id=uuid.uuid4(),
    document_id=uuid.uuid4(),
    revision=1,
    source=SourceBundleRef(key="sources/x.tar", sha256="a" * 64, size=10),
    engine=Engine.PDFLATEX,
)


class FakeMessage:
    """What the consumer reads of a delivery, and what it settled it with."""

    def __init__(self, body: bytes) -> None:
        self.body, self.message_id, self.correlation_id = body, "m-1", "c-1"
        self.raw_message = SimpleNamespace(headers={})
        self.settled: list[str] = []

    async def ack(self) -> None:
        self.settled.append("ack")

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append(f"reject(requeue={requeue})")


class FakeBroker:
    """Answers every publish with ``answer`` (a confirm, a returned message) or raises it."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.published: list[dict[str, Any]] = []

    async def publish(self, body: bytes, **kwargs: Any) -> object:
        self.published.append({"body": body, **kwargs})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FakeManager:
    """Compiles in ``seconds``."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds

    async def compile(self, request: CompileRequested) -> CompileCompleted:
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
    monkeypatch.setattr(consumer_module, "FAILURE_PAUSE_S", 0.0)


async def handle(
    body: bytes, broker: FakeBroker, manager: FakeManager, deadline_s: float = 5.0
) -> list[str]:
    consumer = CompileConsumer(
        cast("RabbitBroker", broker), build_topology("unit"), cast("CompileManager", manager),
        deadline_s,
    )  # fmt: skip
    message = FakeMessage(body)
    await consumer.handle(cast("RabbitMessage", message))
    return message.settled


GOOD = REQUEST.model_dump_json().encode()


async def test_a_confirmed_result_acks_the_request() -> None:
    broker = FakeBroker(Basic.Ack(delivery_tag=1))
    assert await handle(GOOD, broker, FakeManager()) == ["ack"]
    assert broker.published[0]["mandatory"] is True


async def test_a_returned_result_is_no_confirm() -> None:
    # aiormq resolves an unroutable (returned) publish with the returned message, not an Ack.
    returned = SimpleNamespace(delivery=SimpleNamespace(name="Basic.Return"))
    assert await handle(GOOD, FakeBroker(returned), FakeManager()) == ["reject(requeue=True)"]
    assert await handle(GOOD, FakeBroker(None), FakeManager()) == ["reject(requeue=True)"]
    nack = Basic.Nack(delivery_tag=1)
    assert await handle(GOOD, FakeBroker(nack), FakeManager()) == ["reject(requeue=True)"]


async def test_a_message_past_its_deadline_is_given_back() -> None:
    broker = FakeBroker(Basic.Ack(delivery_tag=1))
    settled = await handle(GOOD, broker, FakeManager(seconds=10), deadline_s=0.05)
    assert settled == ["reject(requeue=True)"]
    assert broker.published == []


async def test_a_bad_body_is_dead_lettered_then_acked() -> None:
    broker = FakeBroker(Basic.Ack(delivery_tag=1))
    assert await handle(b"{not json", broker, FakeManager()) == ["ack"]
    headers = broker.published[0]["headers"]
    assert headers["x-texpipe-error-code"] == "MESSAGE_MALFORMED"
    v2 = json.dumps({"schema_name": "latex.compile.requested", "schema_version": 2}).encode()
    assert await handle(v2, broker, FakeManager()) == ["ack"]
    assert broker.published[1]["headers"]["x-texpipe-error-code"] == "MESSAGE_UNKNOWN_VERSION"


async def test_a_dead_letter_that_fails_gives_the_message_back() -> None:
    for answer in (ConnectionError("broker gone"), None):
        settled = await handle(b"{not json", FakeBroker(answer), FakeManager())
        assert settled == ["reject(requeue=True)"]
