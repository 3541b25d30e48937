"""What the benchmarks share: reaching a running stack, statistics, latexmk, tables, results.

Imported by the scripts beside it (``python bench/NAME.py`` puts this folder on ``sys.path``).
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from texpipe_contracts.jobs import FINAL_STATES

LATEXMK = ["latexmk", "-norc", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"]
"""Raw latexmk as the benchmarks run it: pdflatex, no rc files, stop at the first error."""
STACK_ENV_FILE = Path(".texpipe/env")
RESULTS = Path("bench/results")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 (median) and p99 (nearest rank) of durations in seconds, as milliseconds."""
    return {
        "p50_ms": statistics.median(seconds) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
    }


@dataclass(frozen=True)
class Stack:
    """How to reach a running texpipe: the api, a tenant token, the compilers' /metrics."""

    api_url: str
    token: str
    compiler_metrics: tuple[str, ...]


def stack_from_env(
    api_url: str | None = None,
    token: str | None = None,
    compiler_metrics: Sequence[str] = (),
) -> Stack:
    """The stack to benchmark: arguments, else the environment, else ``.texpipe/env``.

    The names are ``TEXPIPE_API_URL``, ``TEXPIPE_TOKEN`` and ``TEXPIPE_COMPILER_METRICS_URL``
    (comma-separated for several compilers; may be absent: no metrics URLs); ``make up``
    writes all three to ``.texpipe/env``. Raises ``SystemExit`` naming a missing api URL or
    token.
    """
    written: dict[str, str] = {}
    if STACK_ENV_FILE.exists():
        lines = STACK_ENV_FILE.read_text().splitlines()
        written = dict(line.split("=", 1) for line in lines if "=" in line)

    def value(name: str, given: str | None) -> str:
        found = given or os.environ.get(name) or written.get(name)
        if not found:
            raise SystemExit(f"{name} is not set: run 'make up', or pass it (see --help)")
        return found

    listed = os.environ.get("TEXPIPE_COMPILER_METRICS_URL") or written.get(
        "TEXPIPE_COMPILER_METRICS_URL", ""
    )
    metrics = list(compiler_metrics) or [url for url in listed.split(",") if url]
    return Stack(
        api_url=value("TEXPIPE_API_URL", api_url),
        token=value("TEXPIPE_TOKEN", token),
        compiler_metrics=tuple(metrics),
    )


def api_session(stack: Stack) -> aiohttp.ClientSession:
    """An HTTP client for the api, signed in with the stack's tenant token."""
    return aiohttp.ClientSession(
        stack.api_url,
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=aiohttp.ClientTimeout(total=180),
    )


async def until_final(http: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    """The job once it is final (long-polls ``GET /v1/jobs/{id}?wait=60``)."""
    while True:
        async with http.get(f"/v1/jobs/{job_id}", params={"wait": "60"}) as response:
            job: dict[str, Any] = await response.json()
        if job["state"] in FINAL_STATES:
            return job


async def compiler_counters(
    http: aiohttp.ClientSession, urls: Iterable[str], names: Iterable[str]
) -> dict[str, float]:
    """The sums over every label set and every compiler of the named metric samples.

    ``names`` are sample names as exposed (``texpipe_compiles_started_total``); one missing
    from every compiler is 0. Raises ``aiohttp.ClientError`` when a compiler does not answer.
    """
    wanted = set(names)
    totals = dict.fromkeys(wanted, 0.0)
    for url in urls:
        async with http.get(url) as response:
            response.raise_for_status()
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in wanted:
                    totals[sample.name] += sample.value
    return totals


def project_files(project: Path) -> dict[str, str]:
    """The project's text files by relative POSIX path."""
    return {
        p.relative_to(project).as_posix(): p.read_text()
        for p in sorted(project.rglob("*"))
        if p.is_file()
    }


def write_files(folder: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` under ``folder`` (over what is there)."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@dataclass(frozen=True)
class Run:
    """One latexmk run: wall seconds and the CPU seconds of latexmk and every tool it ran."""

    wall_s: float
    cpu_s: float


def latexmk(folder: Path) -> Run:
    """Run ``LATEXMK`` in ``folder`` (raises ``CalledProcessError`` when it fails).

    CPU is the growth of this process's ``RUSAGE_CHILDREN`` (latexmk waits for every tool it
    starts), so only one latexmk may run at a time in this process.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(LATEXMK, cwd=folder, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(wall, cpu)


def latexmk_fresh(files: Mapping[str, str]) -> Run:
    """latexmk on ``files`` in a folder of its own, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        write_files(Path(tmp), files)
        return latexmk(Path(tmp))


def latexmk_fresh_copy(project: Path) -> Run:
    """latexmk on a fresh copy of ``project``."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "p"
        shutil.copytree(project, work)
        return latexmk(work)


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *, left: int = 1) -> str:
    """A plain-text table: the first ``left`` columns left-aligned, the others right-aligned;
    floats with one decimal."""
    cells = [list(header)] + [
        [f"{c:.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def write_results(name: str, results: Mapping[str, Any]) -> Path:
    """Write ``results`` as ``bench/results/NAME.json`` (relative to the checkout); its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2))
    return path
