"""DeadJobReporter with a fake api: notices, waiting while the api is down, 404."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from texpipe_applier.answers import Verdict, classify_mark_dead, unreachable
from texpipe_applier.dead_jobs import DeadJobReporter
from texpipe_applier.received import Received
from texpipe_contracts import topology
from texpipe_contracts.internal_api import MarkDead
from texpipe_contracts.topology import build_topology
from texpipe_contracts.v1 import CompileStarted
from texpipe_servicekit.gate import OutageError

TOPO = build_topology("ns")


@dataclass
class FakeApi:
    verdicts: list[Verdict]
    calls: list[tuple[UUID, MarkDead]] = field(default_factory=list)

    async def mark_dead(self, job_id: UUID, notice: MarkDead) -> Verdict:
        self.calls.append((job_id, notice))
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]


def notice(job: UUID) -> Received:
    return Received(
        body=json.dumps({"job_id": str(job)}).encode(),
        headers={topology.HEADER_REASON: "undecodable", topology.HEADER_ATTEMPT: 1},
        routing_key=TOPO.apply_queue.name,
    )


async def test_a_dead_letter_marks_its_job_dead_naming_the_dlq() -> None:
    job, api = uuid4(), FakeApi([classify_mark_dead(200)])
    await DeadJobReporter(api, TOPO).handle(notice(job))
    assert api.calls == [
        (job, MarkDead(reason="undecodable", attempts=1, queue=TOPO.apply_dlq.name))
    ]


@pytest.mark.parametrize("status", [401, 500, 503])
async def test_an_api_that_does_not_take_the_notice_is_an_outage(status: int) -> None:
    for verdict in (unreachable("refused"), classify_mark_dead(status)):
        with pytest.raises(OutageError) as raised:
            await DeadJobReporter(FakeApi([verdict]), TOPO).handle(notice(uuid4()))
        assert raised.value.dependency == "api"


async def test_no_such_job_is_done_with() -> None:
    api = FakeApi([classify_mark_dead(404)])
    await DeadJobReporter(api, TOPO).handle(notice(uuid4()))
    assert len(api.calls) == 1


async def test_a_dead_letter_without_any_job_id_is_dropped_with_a_log() -> None:
    api = FakeApi([classify_mark_dead(200)])
    letter = Received(body=b"\x00", headers={}, routing_key=TOPO.compile_queue.name)
    await DeadJobReporter(api, TOPO).handle(letter)
    assert api.calls == []


async def test_a_dead_start_notice_never_marks_its_compiling_job_dead() -> None:
    started = CompileStarted(
        job_id=uuid4(),
        document_id=uuid4(),
        revision=1,
        started_at=datetime.now(UTC),
        compiler="c-1",
    )
    api = FakeApi([classify_mark_dead(200)])
    letter = Received(
        body=started.model_dump_json().encode(),
        headers={topology.HEADER_REASON: "delivery limit"},
        routing_key=TOPO.apply_queue.name,
    )
    await DeadJobReporter(api, TOPO).handle(letter)
    assert api.calls == []
