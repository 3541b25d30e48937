"""ResultDelivery with a fake api and a fake broker: what happens to each message."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from texpipe_applier.answers import (
    Verdict,
    classify,
    classify_started,
    timed_out,
    unreachable,
)
from texpipe_applier.delivery import ResultDelivery
from texpipe_applier.received import Received
from texpipe_applier.retry import RetryPolicy
from texpipe_contracts import topology
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileErrorInfo,
    CompileStarted,
    Engine,
    Outcome,
)
from texpipe_servicekit.gate import OutageError


@dataclass
class FakeApi:
    verdicts: list[Verdict]
    calls: list[UUID] = field(default_factory=list)
    started: list[UUID] = field(default_factory=list)

    async def post_result(self, job_id: UUID, body: bytes, message_id: str | None) -> Verdict:
        self.calls.append(job_id)
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]

    async def post_started(self, job_id: UUID, body: bytes, message_id: str | None) -> Verdict:
        self.started.append(job_id)
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]


@dataclass
class FakeRedelivery:
    retries: list[tuple[int, float]] = field(default_factory=list)
    dead: list[tuple[str, str, int]] = field(default_factory=list)

    async def schedule_retry(self, message: Received, attempt: int, delay_s: float) -> None:
        self.retries.append((attempt, delay_s))

    async def dead_letter(
        self, message: Received, *, reason: str, code: str, attempts: int
    ) -> None:
        self.dead.append((reason, code, attempts))


def result_message(attempt: int | None = None) -> Received:
    event = CompileCompleted(
        job_id=uuid4(),
        document_id=uuid4(),
        revision=1,
        outcome=Outcome.FAILED,
        error=CompileErrorInfo(code=ErrorCode.LATEX_ERROR, message="Undefined control sequence."),
        duration_ms=5,
        engine=Engine.PDFLATEX,
        engine_version="pdfTeX",
    )
    headers = {} if attempt is None else {topology.HEADER_ATTEMPT: attempt}
    return Received(body=event.model_dump_json().encode(), headers=headers, message_id="m")


POLICY = RetryPolicy(base_s=1.0, cap_s=4.0, max_retries=8, rand=lambda: 1.0)
INVALID = classify(409, "LATEX_JOB_RESULT_INVALID")


async def test_applied_and_stale_are_final() -> None:
    for verdict in (classify(200, None, body_status="applied"), classify(409, "LATEX_JOB_STALE")):
        api, broker = FakeApi([verdict]), FakeRedelivery()
        await ResultDelivery(api, broker, POLICY).handle(result_message())
        assert (len(api.calls), broker.retries, broker.dead) == (1, [], [])


async def test_a_retryable_answer_schedules_the_next_retry_with_its_delay() -> None:
    api, broker = FakeApi([classify(500, None)]), FakeRedelivery()
    await ResultDelivery(api, broker, POLICY).handle(result_message(attempt=2))
    assert broker.retries == [(3, 4.0)]
    assert broker.dead == []


async def test_an_api_that_is_down_spends_no_retry_and_no_dead_letter() -> None:
    for down in (unreachable("refused"), timed_out(3.0), classify(503, "DEPENDENCY_UNAVAILABLE")):
        api, broker = FakeApi([down]), FakeRedelivery()
        with pytest.raises(OutageError) as raised:
            await ResultDelivery(api, broker, POLICY).handle(result_message(attempt=8))
        assert raised.value.dependency == "api"
        assert (broker.retries, broker.dead) == ([], [])


async def test_result_invalid_forever_is_tried_one_plus_eight_times_then_dead() -> None:
    api, broker = FakeApi([INVALID]), FakeRedelivery()
    delivery = ResultDelivery(api, broker, POLICY)
    attempt = 0
    while not broker.dead:
        await delivery.handle(result_message(attempt=attempt))
        attempt += 1
    assert len(api.calls) == 9
    assert [a for a, _ in broker.retries] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [d for _, d in broker.retries] == [1, 2, 4, 4, 4, 4, 4, 4]
    ((reason, code, attempts),) = broker.dead
    assert attempts == 9
    assert code == "RETRIES_EXHAUSTED"
    assert "9 tries" in reason


async def test_a_wrong_setup_is_dead_lettered_at_once() -> None:
    api, broker = FakeApi([classify(401, None)]), FakeRedelivery()
    await ResultDelivery(api, broker, POLICY).handle(result_message())
    assert broker.retries == []
    assert broker.dead[0][1:] == ("HTTP_401", 1)


async def test_an_unknown_version_is_dead_lettered_without_calling_the_api() -> None:
    api, broker = FakeApi([classify(200, None)]), FakeRedelivery()
    body = json.loads(result_message().body) | {"schema_version": 7}
    await ResultDelivery(api, broker, POLICY).handle(
        Received(body=json.dumps(body).encode(), headers={})
    )
    assert api.calls == []
    assert broker.dead[0][1:] == ("MESSAGE_UNKNOWN_VERSION", 1)


# --- compile-started notices share the queue: dispatched by schema name, never dead-lettered --


def started_message(attempt: int | None = None) -> Received:
    notice = CompileStarted(
        job_id=uuid4(), document_id=uuid4(), revision=1, started_at=datetime.now(UTC), compiler="c"
    )
    headers = {} if attempt is None else {topology.HEADER_ATTEMPT: attempt}
    body = notice.model_dump_json().encode()
    return Received(body=body, headers=headers, routing_key=topology.COMPILE_STARTED_V1)


async def test_a_started_notice_goes_to_the_started_endpoint_and_200_or_404_acks_it() -> None:
    for answer in (classify_started(200, None), classify_started(404, "NOT_FOUND")):
        api, broker = FakeApi([answer]), FakeRedelivery()
        message = started_message()
        verdict = await ResultDelivery(api, broker, POLICY).handle(message)
        assert verdict is not None
        assert verdict.final
        assert api.started == [UUID(json.loads(message.body)["job_id"])]
        assert (api.calls, broker.retries, broker.dead) == ([], [], [])


async def test_a_started_notice_waits_out_an_outage_and_retries_a_500() -> None:
    api, broker = FakeApi([classify_started(503, None)]), FakeRedelivery()
    with pytest.raises(OutageError):
        await ResultDelivery(api, broker, POLICY).handle(started_message())
    api, broker = FakeApi([classify_started(500, None)]), FakeRedelivery()
    await ResultDelivery(api, broker, POLICY).handle(started_message(attempt=1))
    assert (broker.retries, broker.dead) == ([(2, 2.0)], [])


async def test_a_started_notice_is_dropped_never_dead_lettered() -> None:
    # A dead letter of the apply queue marks its job dead: a lost progress signal must not.
    exhausted = started_message(attempt=POLICY.max_retries)
    for verdict, message in (
        (classify_started(500, None), exhausted),
        (classify_started(422, None), started_message()),
        (classify_started(401, None), started_message()),
    ):
        api, broker = FakeApi([verdict]), FakeRedelivery()
        await ResultDelivery(api, broker, POLICY).handle(message)
        assert (broker.retries, broker.dead) == ([], [])
    api, broker = FakeApi([classify_started(200, None)]), FakeRedelivery()
    garbled = Received(body=b"{", headers={}, routing_key=topology.COMPILE_STARTED_V1)
    assert await ResultDelivery(api, broker, POLICY).handle(garbled) is None
    assert (api.started, broker.dead) == ([], [])
