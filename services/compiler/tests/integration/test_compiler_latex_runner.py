"""The pass loop against what a document writes: bounded work, and an event loop that runs."""

import dataclasses
import threading

import pytest
from conftest import runner_limits  # type: ignore[import-not-found]  # tests dir, see conftest
from texpipe_compiler import font_cache, passes
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.latex_runner import LatexRunner, RunStatus
from texpipe_compiler.sandbox_launcher import SandboxLauncher
from texpipe_contracts.v1 import Engine

MiB = 1024 * 1024
# Eight 4 MiB .aux files of "\relax" lines (which alone count as empty), written on every
# pass: the shape that made the host split and match millions of lines per pass on its event
# loop (also for BibTeX's signature).
HUGE_AUX = r"""\documentclass{article}
\begin{document}
\directlua{
  local line = string.char(92) .. "relax" .. string.char(10)
  local lines = string.rep(line, 4 * 1024 * 1024 // 7)
  for i = 1, 8 do
    local f = io.open("big" .. i .. ".aux", "w")
    f:write(lines)
    f:close()
  end
}
Huge auxiliary files.
\end{document}
"""


def _off_the_loop(monkeypatch: pytest.MonkeyPatch, name: str, threads: list[bool]) -> None:
    """Record, at each call of ``passes.<name>``, whether it runs off the event loop's thread."""
    original = getattr(passes, name)

    def recorded(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread() is not threading.main_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(passes, name, recorded)


async def test_huge_auxiliary_files_neither_block_the_loop_nor_end_the_passes(
    runner: LatexRunner,
    launcher: SandboxLauncher,
    sandbox_uid: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = dataclasses.replace(runner_limits(), max_passes=2, max_aux_total_bytes=8 * MiB)
    bounded = LatexRunner(launcher, limits, luatex_cache=font_cache.MOUNT_POINT)
    threads: list[bool] = []
    for name in ("aux_state", "rerun_requested", "bibliography_due", "index_runs"):
        _off_the_loop(monkeypatch, name, threads)
    outcome = await bounded.compile(
        [ProjectFile("main.tex", HUGE_AUX.encode())],
        "main.tex",
        Engine.LUALATEX,
        uid=sandbox_uid,
        cpu_s=60,
        source_date_epoch=0,
    )
    assert outcome.status is RunStatus.OK, outcome.log[-2000:]
    # Hashing and matching what the document wrote never runs on the event loop's thread.
    assert threads
    assert all(threads), threads
    # Over the read budget the auxiliary state is unknown: another pass, up to the bound.
    assert outcome.passes == 2
