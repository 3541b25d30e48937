"""A whole texpipe (api, compiler, applier as processes) of its own for one fault scenario.

Each stack has its own broker namespace and database (the session's S3 bucket is shared:
its keys are content-addressed or per job), so a scenario can break its stack's dependencies
through :class:`~texpipe_testing.proxy.TcpProxy` instances without touching anyone else's.
What a scenario measures is collected as a :class:`Figures` row.
"""

import asyncio
import os
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from e2e_helpers import Pipeline, document, log_events
from faststream.rabbit import RabbitBroker
from texpipe_contracts.jobs import FINAL_STATES
from texpipe_contracts.topology import build_topology
from texpipe_servicekit.rabbit import declare_topology
from texpipe_testing.plugin import admin_postgres_url, delete_topology, fresh_database
from texpipe_testing.processes import ServiceProcess, migrate_and_sign_in
from texpipe_testing.proxy import TcpProxy
from texpipe_testing.servers import free_port

SCALE = int(os.environ.get("TEXPIPE_CHAOS_SCALE", "1"))
"""Batch sizes are multiplied by this (``make chaos`` sets it; ``make test`` runs 1)."""
TABLE_FILE = os.environ.get("TEXPIPE_CHAOS_TABLE")
"""Where ``make chaos`` collects the rows of its table (none: rows are only printed)."""
ENGINES = '["pdflatex"]'
"""One engine keeps these stacks lean (no LuaTeX cache warm-up, no tectonic needed)."""
SCENARIO_TUNING = {
    "LATEX_COMPILE_TIMEOUT_MS": "240000",
    "TEXPIPE_COMPILER_ENGINES": ENGINES,
    "TEXPIPE_DB_POOL_MAX": "8",
    "TEXPIPE_APPLY_RETRY_BASE_S": "1",
    "TEXPIPE_APPLY_RETRY_CAP_S": "5",
    "TEXPIPE_PROBE_BASE_S": "0.5",
    "TEXPIPE_PROBE_CAP_S": "3",
}
"""Settings of every fault scenario's services (this file's stacks and the cluster test's):
a generous compile timeout (the slow compile of the drops scenario, about 15 s of pdfTeX alone,
took over 60 s in CI while four stacks shared two cores, and ended ``timed_out``), short apply
retries and broker probes so a fault heals within a
test's wait."""


@dataclass(frozen=True, slots=True)
class Figures:
    """What one scenario measured."""

    scenario: str
    jobs: int
    lost: int
    dead: int
    double_applies: int
    drain_s: float

    def row(self) -> str:
        """One line of the chaos table."""
        return (
            f"| {self.scenario} | {self.jobs} | {self.lost} | {self.dead} | "
            f"{self.double_applies} | {self.drain_s:.1f} |"
        )


TABLE_HEADER = (
    "| scenario | jobs | lost | dead | double applies | drain after the fault (s) |\n"
    "| --- | --- | --- | --- | --- | --- |"
)


def double_applies(stack: Pipeline) -> int:
    """Jobs the api answered ``applied`` more than once (a redelivery must get
    ``already_applied``), from the applier's log."""
    applied = Counter(
        e.get("job_id")
        for e in log_events(stack.services["applier"], "result_delivered")
        if e.get("answer") == "applied"
    )
    return sum(n - 1 for n in applied.values() if n > 1)


async def final_states(
    http: aiohttp.ClientSession, job_ids: list[str], timeout: float
) -> dict[str, str]:
    """Each job's state once final; a job still not final after ``timeout`` is ``lost``."""

    async def one(job_id: str) -> str:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    async with http.get(f"/v1/jobs/{job_id}", params={"wait": "20"}) as response:
                        job: dict[str, Any] = await response.json()
                    if response.status == 200 and job["state"] in FINAL_STATES:
                        return str(job["state"])
        except TimeoutError:
            return "lost"

    states = await asyncio.gather(*(one(j) for j in job_ids))
    return dict(zip(job_ids, states, strict=True))


async def newest_revisions_shown(http: aiohttp.ClientSession, document_ids: list[str]) -> bool:
    """Whether every document's applied PDF is of its current revision."""
    for document_id in document_ids:
        doc = await document(http, document_id)
        if doc["pdf"] is None or doc["pdf"]["revision"] != doc["revision"]:
            return False
    return True


async def figures(
    scenario: str, stack: Pipeline, http: aiohttp.ClientSession, job_ids: list[str],
    *, healthy: set[str], fault_ended: float, timeout: float = 240,
) -> tuple[Figures, dict[str, str]]:  # fmt: skip
    """Wait for every job, then count: lost, healthy jobs dead, double applies, and the
    seconds from ``fault_ended`` (the loop's clock) until the last job was final."""
    states = await final_states(http, job_ids, timeout)
    drained = asyncio.get_running_loop().time()
    row = Figures(
        scenario=scenario,
        jobs=len(job_ids),
        lost=sum(1 for s in states.values() if s == "lost"),
        dead=sum(1 for j, s in states.items() if s == "dead" and j in healthy),
        double_applies=double_applies(stack),
        drain_s=max(0.0, drained - fault_ended),
    )
    print(f"\nchaos figures\n{TABLE_HEADER}\n{row.row()}")
    if TABLE_FILE:
        table = Path(TABLE_FILE)
        with table.open("a") as out:
            out.write(("" if table.stat().st_size else TABLE_HEADER + "\n") + row.row() + "\n")
    return row, states


@asynccontextmanager
async def fault_stack(
    service_env: Mapping[str, str],
    log_dir: Path,
    *,
    api: Mapping[str, str] | None = None,
    compiler: Mapping[str, str] | None = None,
    applier: Mapping[str, str] | None = None,
    api_database_via: TcpProxy | None = None,
) -> AsyncIterator[Pipeline]:
    """api + compiler + applier in a fresh namespace and database; ``api``, ``compiler`` and
    ``applier`` override environment variables of one service (a proxy's address, say), and
    the api reaches its database through ``api_database_via`` when given."""
    topology = build_topology(f"{service_env['TEXPIPE_NAMESPACE']}-{secrets.token_hex(3)}")
    async with fresh_database(admin_postgres_url()) as dsn:
        async with RabbitBroker(service_env["TEXPIPE_AMQP_URL"], logger=None) as broker:
            await broker.connect()
            await declare_topology(broker, topology)
        api_port = free_port()
        env = {
            **service_env,
            "TEXPIPE_NAMESPACE": topology.namespace,
            "TEXPIPE_DATABASE_URL": dsn,
            "TEXPIPE_API_PORT": str(api_port),
            "TEXPIPE_API_URL": f"http://127.0.0.1:{api_port}",
            **SCENARIO_TUNING,
            "TEXPIPE_COMPILER_CONCURRENCY": "2",
        }
        log_dir.mkdir(parents=True, exist_ok=True)
        token = await asyncio.to_thread(migrate_and_sign_in, env, "faults")
        api_env = {**env, **(api or {})}
        if api_database_via is not None:
            api_env["TEXPIPE_DATABASE_URL"] = through(dsn, api_database_via)
        processes = {
            "api": ServiceProcess(
                "texpipe_api",
                env=api_env,
                log_path=log_dir / "api.log",
                health_url=f"http://127.0.0.1:{api_port}/health",
            ),
            **{
                name: _ops_process(f"texpipe_{name}", {**env, **(extra or {})}, log_dir, name)
                for name, extra in (("compiler", compiler), ("applier", applier))
            },
        }
        stack = Pipeline(env["TEXPIPE_API_URL"], token, env, processes, log_dir)
        try:
            await asyncio.gather(*(asyncio.to_thread(p.start, 60) for p in processes.values()))
            yield stack
        finally:
            for process in stack.services.values():
                await asyncio.to_thread(process.stop, 40)
            await delete_topology(service_env["TEXPIPE_AMQP_URL"], topology)


def through(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's (credentials and path kept)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{proxy.port}"))


def _ops_process(module: str, env: dict[str, str], log_dir: Path, name: str) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        module,
        env={**env, "TEXPIPE_OPS_PORT": str(port)},
        log_path=log_dir / f"{name}.log",
        health_url=f"http://127.0.0.1:{port}/health",
    )


def ops_url(process: ServiceProcess, path: str) -> str:
    """``path`` on a compiler's or applier's ops server."""
    return f"http://127.0.0.1:{process.env['TEXPIPE_OPS_PORT']}{path}"
