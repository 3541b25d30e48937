"""The settle policy and the dependency gate, with fakes for the broker and the message.

The real broker's side (holding through an outage, giving back, dead-lettering) is exercised
by the services' integration tests and tests/e2e/test_e2e_faults.py.
"""

import asyncio
from typing import Any, cast

import pytest
from faststream.rabbit import RabbitBroker
from faststream.rabbit.message import RabbitMessage
from pamqp.commands import Basic
from prometheus_client import REGISTRY
from texpipe_servicekit import rabbit
from texpipe_servicekit.gate import ConsumerPausedError, DependencyGate, OutageError
from texpipe_testing.fakes import FakeMessage


class FakeBroker:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, body: bytes, **kwargs: Any) -> object:
        self.published.append({"body": body, **kwargs})
        return Basic.Ack(delivery_tag=1)


class Probe:
    """Fails ``failures`` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("still down")


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rabbit, "FAILURE_PAUSE_S", 0.0)


def paused_gauge(dependency: str) -> float | None:
    return REGISTRY.get_sample_value("texpipe_consumer_paused", {"dependency": dependency})


async def settle(
    work: Any, gate: DependencyGate, message: FakeMessage, broker: FakeBroker, **kw: Any
) -> None:
    await rabbit.settle(
        cast("RabbitBroker", broker), cast("RabbitMessage", message), work,
        gate=gate, queue="q", **kw,
    )  # fmt: skip


async def test_an_outage_holds_the_message_until_the_probe_answers() -> None:
    probe = Probe(failures=2)
    gate = DependencyGate({"s3": probe}, base_s=0.001, cap_s=0.002)
    attempts: list[bool] = []

    async def work() -> None:
        attempts.append(True)
        if len(attempts) == 1:
            raise OutageError("s3", "connection refused")

    message, broker = FakeMessage(), FakeBroker()
    await settle(work, gate, message, broker)
    assert (message.settled, len(attempts), probe.calls) == (["ack"], 2, 3)
    assert broker.published == []  # held, never given back or dead-lettered
    assert paused_gauge("s3") == 0.0
    await gate.close()


async def test_the_gate_says_what_it_waits_for() -> None:
    gate = DependencyGate({"api": Probe(failures=10**6)}, base_s=0.001, cap_s=0.002)
    await gate.check()
    gate.trip(OutageError("api", "the api answered 503"))
    assert paused_gauge("api") == 1.0
    with pytest.raises(ConsumerPausedError, match=r"api \(the api answered 503"):
        await gate.check()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await gate.wait_open()
    await gate.close()


async def test_a_message_held_past_the_limit_is_given_back_without_spending_a_delivery() -> None:
    gate = DependencyGate({"s3": Probe(failures=10**6)}, base_s=0.001, cap_s=0.002)

    async def work() -> None:
        raise OutageError("s3", "timeout")

    headers = {"x-delivery-count": 2, "x-texpipe-attempt": 1, "x-death": [{"reason": "expired"}]}
    message, broker = FakeMessage(headers=headers), FakeBroker()
    await settle(work, gate, message, broker, hold_limit_s=0.05)
    assert message.settled == ["ack"]
    [copy] = broker.published
    assert (copy["queue"], copy["message_id"], copy["mandatory"]) == ("q", "m-1", True)
    # The broker's count does not travel; the rest (a notice's x-death too) does.
    assert copy["headers"] == {"x-texpipe-attempt": 1, "x-death": [{"reason": "expired"}]}
    await gate.close()


async def test_an_unexpected_failure_is_rejected_for_the_delivery_limit() -> None:
    gate = DependencyGate({"s3": Probe(0)})

    async def work() -> None:
        raise RuntimeError("a bug")

    message = FakeMessage()
    await settle(work, gate, message, FakeBroker())
    assert message.settled == ["reject(requeue=True)"]


async def test_a_delivery_whose_channel_closed_is_left_to_the_broker() -> None:
    gate = DependencyGate({"s3": Probe(0)})
    message = FakeMessage()

    async def work() -> None:
        message.channel.is_closed = True  # the connection dropped meanwhile

    await settle(work, gate, message, FakeBroker())
    assert message.settled == []


async def test_a_held_message_is_given_back_when_the_service_stops() -> None:
    gate = DependencyGate({"s3": Probe(failures=10**6)}, base_s=0.001, cap_s=0.002)
    calls: list[bool] = []

    async def work() -> None:
        calls.append(True)
        raise OutageError("s3", "refused")

    message, broker = FakeMessage(), FakeBroker()
    held = asyncio.create_task(settle(work, gate, message, broker))
    while not gate.paused:
        await asyncio.sleep(0)
    await gate.release()  # SIGTERM: FastStream's on_shutdown hook
    await held
    assert (message.settled, len(broker.published), len(calls)) == (["ack"], 1, 1)
    await gate.close()
    # While nothing is down, a release changes nothing: deliveries still finish their work.
    healthy = DependencyGate({"s3": Probe(0)})
    await healthy.release()
    fine = FakeMessage()
    await settle(lambda: asyncio.sleep(0), healthy, fine, broker)
    assert fine.settled == ["ack"]
