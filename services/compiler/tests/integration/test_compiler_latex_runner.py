"""The pass loop against what a document writes: bounded work, and an event loop that runs."""

import asyncio
import dataclasses
import time

from conftest import runner_limits  # type: ignore[import-not-found]  # tests dir, see conftest
from texpipe_compiler import font_cache
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


async def _max_lag(stop: asyncio.Event, period_s: float = 0.02) -> float:
    """The longest the event loop went without running this task, until ``stop``."""
    worst = 0.0
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(period_s)
        worst = max(worst, time.monotonic() - started - period_s)
    return worst


async def test_huge_auxiliary_files_neither_block_the_loop_nor_end_the_passes(
    runner: LatexRunner, launcher: SandboxLauncher, sandbox_uid: int | None
) -> None:
    limits = dataclasses.replace(runner_limits(), max_passes=2, max_aux_total_bytes=8 * MiB)
    bounded = LatexRunner(launcher, limits, luatex_cache=font_cache.MOUNT_POINT)
    stop = asyncio.Event()
    ticker = asyncio.create_task(_max_lag(stop))
    try:
        outcome = await bounded.compile(
            [ProjectFile("main.tex", HUGE_AUX.encode())],
            "main.tex",
            Engine.LUALATEX,
            uid=sandbox_uid,
            cpu_s=60,
            source_date_epoch=0,
        )
    finally:
        stop.set()
        lag = await ticker
    assert outcome.status is RunStatus.OK, outcome.log[-2000:]
    assert lag < 0.3, f"the event loop stalled for {lag:.2f} s"
    # Over the read budget the auxiliary state is unknown: another pass, up to the bound.
    assert outcome.passes == 2
