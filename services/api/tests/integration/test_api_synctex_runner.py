"""The SyncTeX sandbox's bounds, with stand-ins for the tool (real bubblewrap, no servers)."""

import gzip
import time

import pytest
from texpipe_api.synctex_runner import (
    MAX_ANSWER_BYTES,
    SynctexLimits,
    SynctexRunError,
    SynctexRunner,
)

LIMITS = SynctexLimits(timeout_s=2.0, memory_bytes=512 * 1024 * 1024, concurrency=1)
DATA = gzip.compress(b"SyncTeX Version:1\n")
PYTHON = "/usr/bin/python3"


def stand_in(code: str) -> SynctexRunner:
    """A runner whose 'synctex' is Python running ``code`` (the query's words are its argv)."""
    return SynctexRunner(LIMITS, synctex=(PYTHON, "-c", code))


async def test_an_endless_answer_is_refused_and_its_tool_killed() -> None:
    runner = stand_in("import sys\nwhile True: sys.stdout.write('x' * 65536)")
    started = time.monotonic()
    with pytest.raises(SynctexRunError, match=f"more than {MAX_ANSWER_BYTES} bytes"):
        await runner.edit(DATA, page=1, x=1, y=1)
    assert time.monotonic() - started < LIMITS.timeout_s


async def test_a_silent_tool_is_killed_at_its_wall_clock() -> None:
    runner = stand_in("import time\ntime.sleep(60)")
    started = time.monotonic()
    with pytest.raises(SynctexRunError, match="within 2 s"):
        await runner.view(DATA, name="main.tex", line=1, column=0)
    assert time.monotonic() - started < 10


async def test_the_tool_sees_only_its_file_no_environment_and_no_network() -> None:
    probe = (
        "import os, socket, sys\n"
        "seen = sorted(os.listdir('/in')), sorted(os.listdir('/')), dict(os.environ)\n"
        "try:\n    socket.create_connection(('127.0.0.1', 5672), timeout=1); net = 'open'\n"
        "except OSError:\n    net = 'none'\n"
        "try:\n    open('/in/x', 'w'); wrote = True\nexcept OSError:\n    wrote = False\n"
        "print('SyncTeX result begin'); print('Output:x')\n"
        "print(f'Input:{seen!r}|{net}|{wrote}'); print('Line:1'); print('SyncTeX result end')\n"
    )
    (hit,) = await stand_in(probe).edit(DATA, page=1, x=1, y=1)
    listed, net, wrote = hit.name.split("|")
    # Only its folder and /usr; of the environment only what bwrap (PWD) and Python's own
    # locale coercion (LC_CTYPE) set inside.
    expected = (
        ["output.pdf", "output.synctex.gz"],
        ["bin", "in", "lib", "lib64", "usr"],
        {"PWD": "/in", "LC_CTYPE": "C.UTF-8"},
    )
    assert listed == repr(expected)
    assert (net, wrote) == ("none", "False")


async def test_a_tool_that_fails_is_an_error_not_an_answer() -> None:
    runner = stand_in("raise SystemExit(3)")
    with pytest.raises(SynctexRunError, match="status 3"):
        await runner.view(DATA, name="main.tex", line=1, column=0)
