"""The compiler's settings: the deadlines derived from the compile timeout."""

import pytest
from texpipe_compiler.config import BROKER_ACK_TIMEOUT_S, Settings, message_deadline_s
from texpipe_contracts.v1.commands import MAX_TIMEOUT_MS

KEYS = {"TEXPIPE_S3_ACCESS_KEY": "a", "TEXPIPE_S3_SECRET_KEY": "b"}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LATEX_COMPILE_TIMEOUT_MS", "TEXPIPE_SHUTDOWN_GRACE_S"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def test_the_shutdown_grace_covers_the_compile_timeout_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().shutdown_grace_s >= Settings().compile_timeout_ms / 1000
    monkeypatch.setenv("LATEX_COMPILE_TIMEOUT_MS", "600000")
    assert Settings().shutdown_grace_s >= 600
    monkeypatch.setenv("TEXPIPE_SHUTDOWN_GRACE_S", "5")
    assert Settings().shutdown_grace_s == 5


def test_a_message_deadline_leaves_room_for_io_and_stays_below_the_ack_timeout() -> None:
    assert message_deadline_s(120_000) > 120
    assert message_deadline_s(MAX_TIMEOUT_MS) > MAX_TIMEOUT_MS / 1000
    assert message_deadline_s(MAX_TIMEOUT_MS) < BROKER_ACK_TIMEOUT_S
    assert Settings().message_deadline_s == message_deadline_s(120_000)
