"""The enqueue ping's pure decisions: its document, its stage times, its answer."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from texpipe_api.ping import ping_sources
from texpipe_api.ping_rules import DbClock, PingDocument, PingTimes, choose_document, ping_result

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def doc(busy: bool, last_seq: int) -> PingDocument:
    return PingDocument(uuid4(), busy, last_seq)


def test_pings_one_at_a_time_share_the_first_free_document() -> None:
    assert choose_document([], 4) is None  # first use: create it
    first, second = doc(False, 7), doc(False, 9)
    assert choose_document([first, second], 4) == first.id
    assert choose_document([doc(True, 9), second], 4) == second.id


def test_overlapping_pings_get_new_documents_up_to_the_limit_then_the_oldest() -> None:
    busy = [doc(True, 5), doc(True, 3)]
    assert choose_document(busy, 4) is None
    busy += [doc(True, 9), doc(True, 4)]
    assert choose_document(busy, 4) == busy[1].id


def test_database_times_map_onto_the_request_clock() -> None:
    clock = DbClock(T0, anchor_ms=20)
    assert clock.ms(T0 + timedelta(milliseconds=35)) == 55
    times = PingTimes(accepted_ms=22)
    # The relay's mark can read a hair earlier than the api saw its commit: never before it.
    times.see(clock, published_at=T0, state="queued", finished_at=None, duration_ms=None)
    assert times.reached() == {"accepted_ms": 22, "published_ms": 22}
    assert times.first_missing() == "applied"
    finished = T0 + timedelta(milliseconds=400)
    times.see(clock, published_at=T0, state="applied", finished_at=finished, duration_ms=180)
    assert times.reached() == {
        "accepted_ms": 22,
        "published_ms": 22,
        "compile_ms": 180,
        "applied_ms": 420,
    }


def test_a_late_published_mark_is_never_after_applied() -> None:
    clock = DbClock(T0, anchor_ms=10)
    times = PingTimes(accepted_ms=12)
    applied = T0 + timedelta(milliseconds=300)
    times.see(clock, published_at=None, state="applied", finished_at=applied, duration_ms=200)
    assert "published_ms" not in times.reached()
    marked = applied + timedelta(milliseconds=5)
    times.see(clock, published_at=marked, state="applied", finished_at=applied, duration_ms=200)
    assert times.reached() == {
        "accepted_ms": 12,
        "published_ms": 310,
        "compile_ms": 200,
        "applied_ms": 310,
    }


def test_the_first_missing_stage() -> None:
    assert PingTimes().first_missing() == "accepted"
    assert PingTimes(accepted_ms=3).first_missing() == "published"
    clock = DbClock(T0, 0)
    failed = PingTimes(accepted_ms=3)
    failed.see(clock, published_at=T0, state="failed", finished_at=T0, duration_ms=90)
    assert "applied_ms" not in failed.reached()
    assert failed.reached()["compile_ms"] == 90


@pytest.mark.parametrize(
    ("state", "result"),
    [
        ("applied", "ok"),
        ("queued", "timeout"),
        ("failed", "failed"),
        ("stale", "failed"),
        ("dead", "failed"),
        (None, "failed"),
    ],
)
def test_the_answer_for_the_last_state(state: str | None, result: str) -> None:
    assert ping_result(state) == result


def test_every_ping_is_a_new_source() -> None:
    one, two = ping_sources("a"), ping_sources("b")
    assert one.files != two.files
    assert one.files["main.tex"].startswith(b"% texpipe ping a\n")
