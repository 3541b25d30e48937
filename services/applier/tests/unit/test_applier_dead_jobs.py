"""DeadJobReporter with a fake api: notices, backoff while the api is down, 404."""

import json
from dataclasses import dataclass, field
from uuid import UUID, uuid4

from texpipe_applier.answers import Verdict, classify_mark_dead, unreachable
from texpipe_applier.dead_jobs import DeadJobReporter
from texpipe_applier.received import Received
from texpipe_contracts import topology
from texpipe_contracts.internal_api import MarkDead
from texpipe_contracts.topology import build_topology

TOPO = build_topology("ns")


@dataclass
class FakeApi:
    verdicts: list[Verdict]
    calls: list[tuple[UUID, MarkDead]] = field(default_factory=list)

    async def mark_dead(self, job_id: UUID, notice: MarkDead) -> Verdict:
        self.calls.append((job_id, notice))
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]


@dataclass
class FakeSleep:
    slept: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def notice(job: UUID) -> Received:
    return Received(
        body=json.dumps({"job_id": str(job)}).encode(),
        headers={topology.HEADER_REASON: "undecodable", topology.HEADER_ATTEMPT: 1},
        routing_key=TOPO.apply_queue.name,
    )


async def test_a_dead_letter_marks_its_job_dead_naming_the_dlq() -> None:
    job, api, sleep = uuid4(), FakeApi([classify_mark_dead(200)]), FakeSleep()
    reporter = DeadJobReporter(api, TOPO, backoff_cap_s=5.0, sleep=sleep)
    assert await reporter.handle(notice(job))
    assert api.calls == [
        (job, MarkDead(reason="undecodable", attempts=1, queue=TOPO.apply_dlq.name))
    ]
    assert sleep.slept == []


async def test_an_unreachable_api_means_wait_longer_each_time_then_try_again() -> None:
    down = unreachable("refused")
    api, sleep = FakeApi([down, down, down, down, classify_mark_dead(200)]), FakeSleep()
    reporter = DeadJobReporter(api, TOPO, backoff_cap_s=3.0, sleep=sleep)
    outcomes = [await reporter.handle(notice(uuid4())) for _ in range(5)]
    assert outcomes == [False, False, False, False, True]
    assert len(sleep.slept) == 4
    assert all(0 < s <= 3.0 for s in sleep.slept)
    assert sleep.slept[-1] >= 1.5  # reached the cap's jitter range


async def test_no_such_job_is_done_with() -> None:
    api, sleep = FakeApi([classify_mark_dead(404)]), FakeSleep()
    assert await DeadJobReporter(api, TOPO, 1.0, sleep=sleep).handle(notice(uuid4()))
    assert sleep.slept == []


async def test_a_dead_letter_without_any_job_id_is_dropped_with_a_log() -> None:
    api = FakeApi([classify_mark_dead(200)])
    letter = Received(body=b"\x00", headers={}, routing_key=TOPO.compile_queue.name)
    assert await DeadJobReporter(api, TOPO, 1.0, sleep=FakeSleep()).handle(letter)
    assert api.calls == []
