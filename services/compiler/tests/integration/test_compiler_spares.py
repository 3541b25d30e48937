"""Spare sandboxes: a slot's next sandbox starts when its job ends, and no job ever sees
another's sandbox, files or format."""

import os
import signal
from pathlib import Path

from compiler_helpers import processes_of  # type: ignore[import-not-found]
from conftest import job_groups, sandbox_limits  # type: ignore[import-not-found]
from prometheus_client import REGISTRY
from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.format_files import FormatFiles
from texpipe_compiler.sandbox import SandboxLayout, bwrap_argv, seccomp_program
from texpipe_compiler.sandbox_launcher import SandboxLauncher
from texpipe_compiler.sandbox_session import SandboxSession

ENV = {"PATH": "/usr/bin:/bin"}


def spares(result: str) -> float:
    return REGISTRY.get_sample_value("texpipe_sandbox_spares_total", {"result": result}) or 0.0


async def shell(session: SandboxSession, script: str) -> bytes:
    """What ``sh -c script`` prints in the sandbox."""
    ran = await session.run(["/bin/sh", "-c", script], ENV, output_cap=65536)
    return bytes(ran.output)


async def test_the_next_job_of_a_slot_takes_a_fresh_spare_that_shares_nothing(
    layout: SandboxLayout,
    sandbox_uid: int | None,
    sandbox_uids: range,
    format_files: FormatFiles,
) -> None:
    launcher = SandboxLauncher(
        layout, sandbox_limits(), seccomp_program(), job_groups(), spares=True
    )
    fmt = format_files.put("document a", b"format of document a")
    assert fmt is not None
    hits, misses = spares("hit"), spares("miss")
    try:
        async with launcher.session(sandbox_uid, 30, format_file=fmt, spare=True) as first:
            await first.put([ProjectFile("secret.tex", b"tenant a")])
            seen = await shell(first, f"cat {cmd.FORMAT_FILE}; ls {cmd.PROJECT_DIR}")
            assert seen == b"format of document a" + b"secret.tex\n"
        assert (spares("hit"), spares("miss")) == (hits, misses + 1)
        await launcher.wait_spares()  # started when the first job ended
        async with launcher.session(sandbox_uid, 30, spare=True) as second:
            # A sandbox no job used: neither the first job's files nor its format.
            assert await shell(second, f"ls -A {cmd.PROJECT_DIR} {cmd.FORMAT_DIR}") == (
                f"{cmd.FORMAT_DIR}:\n\n{cmd.PROJECT_DIR}:\n".encode()
            )
        assert spares("hit") == hits + 1
        await launcher.wait_spares()
    finally:
        await launcher.aclose()
    # The spare left by the second job is gone with the launcher.
    assert list(processes_of(sandbox_uids)) == []


async def test_a_spare_that_died_while_waiting_is_not_used(
    layout: SandboxLayout, sandbox_uid: int | None, sandbox_uids: range
) -> None:
    launcher = SandboxLauncher(
        layout, sandbox_limits(), seccomp_program(), job_groups(), spares=True
    )
    try:
        async with launcher.session(sandbox_uid, 30, spare=True):
            pass
        await launcher.wait_spares()
        waiting = next(iter(launcher._spares.values()))
        os.killpg(waiting.process.pid, signal.SIGKILL)
        await waiting.process.wait()
        misses = spares("miss")
        async with launcher.session(sandbox_uid, 30, spare=True) as session:
            assert await shell(session, "echo alive") == b"alive\n"
        assert spares("miss") == misses + 1
    finally:
        await launcher.aclose()
    assert list(processes_of(sandbox_uids)) == []


def test_a_sandbox_sees_its_own_folder_of_formats_read_only(tmp_path: Path) -> None:
    layout = SandboxLayout(python="/usr/bin/python3")
    argv = " ".join(bwrap_argv(layout, sandbox_limits(), 3, 4, format_dir=str(tmp_path)))
    assert f"--ro-bind {tmp_path} {cmd.FORMAT_DIR}" in argv
