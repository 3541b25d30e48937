"""Reading dead letters written by a service or by the broker."""

import json
from datetime import UTC, datetime
from uuid import uuid4

from texpipe_applier.dead_letters import describe, job_id_of
from texpipe_applier.received import Received
from texpipe_contracts import topology
from texpipe_contracts.topology import build_topology

TOPO = build_topology("ns")


def test_job_id_comes_from_the_body_else_from_the_correlation_id() -> None:
    job = uuid4()
    assert job_id_of(json.dumps({"job_id": str(job)}).encode(), None) == job
    assert job_id_of(b"\x00garbage", str(job)) == job
    assert job_id_of(json.dumps({"job_id": "nope"}).encode(), str(job)) == job
    assert job_id_of(b"{}", "not-a-uuid") is None
    assert job_id_of(b"[]", None) is None


def test_a_service_dead_letter_is_read_from_texpipe_headers() -> None:
    job = uuid4()
    letter = Received(
        body=json.dumps({"job_id": str(job)}).encode(),
        headers={
            topology.HEADER_REASON: "gave up after 9 tries",
            topology.HEADER_ERROR_CODE: "LATEX_JOB_RESULT_INVALID",
            topology.HEADER_ATTEMPT: 9,
            topology.HEADER_DEAD_AT: "2026-01-02T03:04:05+00:00",
        },
        routing_key=TOPO.apply_queue.name,
    )
    info = describe(letter, TOPO)
    assert info.job_id == job
    assert info.reason == "gave up after 9 tries"
    assert info.code == "LATEX_JOB_RESULT_INVALID"
    assert info.attempts == 9
    assert info.source_queue == TOPO.apply_queue.name
    assert info.dead_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_broker_delivery_limit_dead_letter_counts_the_deliveries() -> None:
    when = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    letter = Received(
        body=b"{}",
        headers={
            "x-death": [
                {
                    "count": 1,
                    "reason": "delivery_limit",
                    "queue": TOPO.compile_queue.name,
                    "time": when,
                    "exchange": TOPO.exchange.name,
                    "routing-keys": ["compile.requested.v1"],
                }
            ],
            "x-delivery-count": 0,
        },
        routing_key=TOPO.compile_queue.name,
        correlation_id=str(uuid4()),
    )
    info = describe(letter, TOPO)
    assert info.job_id is not None
    assert "delivery_limit" in info.reason
    assert "lost its connection" in info.reason
    assert TOPO.compile_queue.name in info.reason
    assert info.attempts == topology.COMPILE_DELIVERY_LIMIT + 1
    assert info.code == "DEAD_LETTERED"
    # Given back to the dead-jobs queue during an api outage: still read from its x-death.
    given_back = Received(
        body=letter.body,
        headers=letter.headers,
        routing_key=TOPO.dead_jobs_queue.name,
        correlation_id=letter.correlation_id,
    )
    assert describe(given_back, TOPO) == info
    assert info.dead_at == when


def test_a_requeued_notice_keeps_its_source_queue() -> None:
    letter = Received(
        body=b"{}",
        headers={topology.HEADER_SOURCE_QUEUE: TOPO.compile_queue.name, "x-death": []},
        routing_key=TOPO.dead_jobs_queue.name,
    )
    assert describe(letter, TOPO).source_queue == TOPO.compile_queue.name


def test_headers_as_bytes_are_read_too() -> None:
    letter = Received(
        body=b"{}",
        headers={topology.HEADER_REASON: b"bytes reason", topology.HEADER_ATTEMPT: b"3"},
    )
    info = describe(letter, TOPO)
    assert (info.reason, info.attempts) == ("bytes reason", 3)


def test_received_attempt_and_republish_headers() -> None:
    message = Received(
        body=b"",
        headers={
            topology.HEADER_ATTEMPT: 4,
            "x-death": [{}],
            "x-first-death-queue": "q",
            "x-delivery-count": 2,
            "x-texpipe-replays": 1,
        },
    )
    assert message.attempt == 4
    assert message.republish_headers(**{topology.HEADER_ATTEMPT: 5}) == {
        topology.HEADER_ATTEMPT: 5,
        "x-texpipe-replays": 1,
    }
    assert Received(body=b"", headers={topology.HEADER_ATTEMPT: "junk"}).attempt == 0
    assert Received(body=b"", headers={}).attempt == 0
