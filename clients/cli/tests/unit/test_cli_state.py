"""The folder -> document memory."""

from pathlib import Path

import pytest
from texpipe_cli.errors import UsageError
from texpipe_cli.state import DocumentState, read_state, write_bytes_atomically, write_state


def test_round_trip_and_absence(tmp_path: Path) -> None:
    path = tmp_path / ".texpipe" / "document.json"
    assert read_state(path) is None
    state = DocumentState("http://api", "doc", 4, "job")
    write_state(path, state)
    assert read_state(path) == state
    assert [p.name for p in path.parent.iterdir()] == ["document.json"]  # no temporary left


def test_a_broken_state_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "document.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="unreadable"):
        read_state(path)
    path.write_text('{"document_id": "d"}')
    with pytest.raises(UsageError, match="not a texpipe state file"):
        read_state(path)


def test_atomic_write_replaces(tmp_path: Path) -> None:
    out = tmp_path / "a.pdf"
    out.write_bytes(b"old")
    write_bytes_atomically(out, b"%PDF-new")
    assert out.read_bytes() == b"%PDF-new"
