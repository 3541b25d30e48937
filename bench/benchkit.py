"""What the benchmarks share: reaching a running stack, a throwaway deployment of their own,
statistics, latexmk, tables, results.

Imported by the scripts beside it (``python bench/NAME.py`` puts this folder on ``sys.path``).
"""

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from faststream.rabbit import RabbitBroker
from prometheus_client.parser import text_string_to_metric_families
from texpipe_contracts.jobs import FINAL_STATES
from texpipe_contracts.topology import build_topology
from texpipe_servicekit.rabbit import declare_topology
from texpipe_testing.plugin import (
    DEFAULT_AMQP_URL,
    DEFAULT_POSTGRES_URL,
    delete_topology,
    env_for_servers,
    fresh_database,
)
from texpipe_testing.processes import ServiceProcess, migrate_and_sign_in
from texpipe_testing.seaweed import seaweedfs
from texpipe_testing.servers import free_port

LATEXMK = ["latexmk", "-norc", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "main.tex"]
"""Raw latexmk as the benchmarks run it: pdflatex, no rc files, stop at the first error."""
STACK_ENV_FILE = Path(".texpipe/env")
RESULTS = Path("bench/results")
AMQP_URL = os.environ.get("TEXPIPE_TEST_AMQP_URL", DEFAULT_AMQP_URL)
POSTGRES_URL = os.environ.get("TEXPIPE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
"""The servers a throwaway deployment uses: the tests' (and their defaults)."""


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


@dataclass(frozen=True)
class Deployment:
    """A throwaway deployment: the api's environment (its port in ``TEXPIPE_API_PORT``), its
    base URL, a tenant token, the database URL, the compile queue's name and a folder for the
    api processes' logs."""

    env: dict[str, str]
    api_url: str
    token: str
    dsn: str
    compile_queue: str
    logs: Path

    def api(self, name: str, **env: str) -> ServiceProcess:
        """An api process (not started) on the deployment's port, ``env`` over its
        environment, logging to ``logs/NAME.log``; healthy once ``/health`` answers."""
        return ServiceProcess(
            "texpipe_api",
            env={**self.env, **env},
            log_path=self.logs / f"{name}.log",
            health_url=f"{self.api_url}/health",
        )


@asynccontextmanager
async def throwaway_deployment() -> AsyncIterator[Deployment]:
    """A deployment of the benchmark's own on this machine, removed afterwards: a RabbitMQ
    namespace (topology declared, deleted at the end), a fresh PostgreSQL database (migrated,
    dropped at the end), a SeaweedFS server, and a tenant ``bench``.

    The environment lets several api processes share one port (``TEXPIPE_API_REUSE_PORT``)
    and logs warnings only. Starting the api processes is the caller's.
    """
    topology = build_topology("bench" + secrets.token_hex(4))
    async with RabbitBroker(AMQP_URL, logger=None) as broker:
        await broker.connect()
        await declare_topology(broker, topology)
    try:
        async with fresh_database(POSTGRES_URL) as dsn:
            with seaweedfs(bucket="bench") as s3:
                port = free_port()
                env = {
                    **os.environ,
                    **env_for_servers(AMQP_URL, topology.namespace, dsn, s3),
                    "TEXPIPE_API_PORT": str(port),
                    "TEXPIPE_LOG_LEVEL": "WARNING",
                    "TEXPIPE_API_REUSE_PORT": "true",
                }
                token = migrate_and_sign_in(env, "bench")
                logs = Path(tempfile.mkdtemp(prefix="texpipe-bench-"))
                yield Deployment(
                    env, f"http://127.0.0.1:{port}", token, dsn, topology.compile_queue.name, logs
                )
    finally:
        await delete_topology(AMQP_URL, topology)


def run_in_throwaway_deployment(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace, Deployment], Awaitable[Mapping[str, object]]],
) -> None:
    """Parse the command line, ``run`` the benchmark in a ``throwaway_deployment`` and print
    its report as JSON."""
    args = parser.parse_args()

    async def measured() -> Mapping[str, object]:
        async with throwaway_deployment() as deployment:
            return await run(args, deployment)

    print(json.dumps(asyncio.run(measured()), indent=2))


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU seconds a process has used so far (``/proc/PID/stat``); with
    ``reaped_children``, also those of the children it has waited for (a compiler's
    sandboxes: TeX, BibTeX...)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = fields[11:15] if reaped_children else fields[11:13]
    return sum(int(f) for f in used) / os.sysconf("SC_CLK_TCK")


async def queue_depth(name: str) -> int:
    """Messages ready in the queue ``name`` on ``AMQP_URL`` (a passive declare)."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0


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
