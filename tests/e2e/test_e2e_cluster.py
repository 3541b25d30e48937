"""Several processes of every service on a three-node RabbitMQ cluster that loses a node.

2 api processes (both relaying the outbox), 3 compilers and 2 appliers, all given the three
node addresses, take 200 compile requests over 50 documents (a new revision of every document
in each of four rounds). After the second round, the node that leads ``latex.compile``'s
quorum is SIGKILLed; it is restarted once the queues are consumed again. Then: every job
final, none lost, none dead, none applied twice, every document showing its newest revision,
and every service on a live node without having been restarted (its ``/ready`` says which).
The test prints the time from the kill until the queues were consumed again.
"""

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from e2e_helpers import create, log_events, update
from fault_stack import SCENARIO_TUNING
from texpipe_contracts.topology import QUORUM_REPLICAS, Topology, build_topology
from texpipe_servicekit.rabbit import prepare_topology
from texpipe_testing.cluster import Node, RabbitCluster
from texpipe_testing.plugin import (
    admin_postgres_url,
    delete_topology,
    env_for_servers,
    fresh_database,
)
from texpipe_testing.processes import ServiceProcess, migrate_and_sign_in
from texpipe_testing.seaweed import S3Server
from texpipe_testing.servers import free_port

DOCUMENTS = 50
ROUNDS = 4
"""Revisions per document: 50 x 4 = 200 compile requests."""
KILL_AFTER_RESULTS = 40
"""Results applied before the leader is killed: the kill lands mid-batch."""
SUPERSEDED = "superseded"
"""A job the api ended because a newer revision of its document was requested before it was
compiled (when the api holds back requests): final, not lost, counted on its own."""
FINAL = {"applied", "stale", "failed", "timed_out", "rejected", "dead", SUPERSEDED}

pytestmark = pytest.mark.timeout(1200)


def hello(i: int, revision: int) -> dict[str, str]:
    """A hello-sized document, distinct per document and revision (no cache hits)."""
    return {
        "main.tex": "\\documentclass{article}\\begin{document}"
        f"Cluster document {i}, revision {revision}.\\end{{document}}\n"
    }


class Fleet:
    """The service processes of the scenario, by name (``api-1``, ``compiler-2``...)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.processes: dict[str, ServiceProcess] = {}
        self.ready_urls: dict[str, str] = {}
        api_ports = [free_port() for _ in range(2)]
        self.api_urls = [f"http://127.0.0.1:{port}" for port in api_ports]
        for i, port in enumerate(api_ports, 1):
            self._add(f"api-{i}", "texpipe_api", {**env, "TEXPIPE_API_PORT": str(port)}, log_dir)
        for i in range(1, 4):
            self._add(f"compiler-{i}", "texpipe_compiler", env, log_dir, ops=True)
        for i, api_url in enumerate(self.api_urls, 1):
            applier_env = {**env, "TEXPIPE_API_URL": api_url}
            self._add(f"applier-{i}", "texpipe_applier", applier_env, log_dir, ops=True)

    def _add(
        self, name: str, module: str, env: dict[str, str], log_dir: Path, *, ops: bool = False
    ) -> None:
        port = int(env["TEXPIPE_API_PORT"]) if not ops else free_port()
        extra = {"TEXPIPE_OPS_PORT": str(port)} if ops else {}
        self.processes[name] = ServiceProcess(
            module,
            env={**env, **extra},
            log_path=log_dir / f"{name}.log",
            health_url=f"http://127.0.0.1:{port}/health",
        )
        self.ready_urls[name] = f"http://127.0.0.1:{port}/ready"

    def of(self, kind: str) -> list[ServiceProcess]:
        """Every process of one service."""
        return [p for name, p in self.processes.items() if name.startswith(kind)]

    async def start(self) -> None:
        """Start every process at once; returns when all are healthy."""
        await asyncio.gather(*(asyncio.to_thread(p.start, 90) for p in self.processes.values()))

    async def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 40 s)."""
        await asyncio.gather(*(asyncio.to_thread(p.stop, 40) for p in self.processes.values()))

    async def nodes(self, http: aiohttp.ClientSession) -> dict[str, str | None]:
        """The broker node each service says it uses (``/ready``), None when not ready."""

        async def one(url: str) -> str | None:
            try:
                async with http.get(url) as response:
                    body: dict[str, Any] = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return None
            if response.status != 200:
                return None
            details = body.get("details", {})
            broker = details.get("rabbitmq") or details.get("broker") or {}
            return broker.get("node")

        names = list(self.ready_urls)
        found = await asyncio.gather(*(one(self.ready_urls[n]) for n in names))
        return dict(zip(names, found, strict=True))


@asynccontextmanager
async def cluster_stack(
    cluster: RabbitCluster, s3: S3Server, log_dir: Path
) -> AsyncIterator[tuple[Fleet, Topology, str, str]]:
    """The topology declared on the cluster, a fresh database, and the fleet running;
    yields (fleet, topology, token, database URL)."""
    topology = build_topology("cl" + secrets.token_hex(4))
    await prepare_topology(cluster.amqp_url_list, topology, service="e2e-cluster")
    async with fresh_database(admin_postgres_url()) as dsn:
        env = {
            **env_for_servers(cluster.amqp_url_list, topology.namespace, dsn, s3),
            **SCENARIO_TUNING,
            "TEXPIPE_AMQP_RECONNECT_S": "1",
            "TEXPIPE_API_URL": "http://127.0.0.1:1",  # each applier gets an api of its own
            "TEXPIPE_COMPILER_CONCURRENCY": "1",
        }
        log_dir.mkdir(parents=True, exist_ok=True)
        token = await asyncio.to_thread(migrate_and_sign_in, env, "cluster")
        fleet = Fleet(env, log_dir)
        try:
            await fleet.start()
            yield fleet, topology, token, dsn
        finally:
            await fleet.stop()
            await delete_topology(cluster.amqp_urls[0], topology)


@pytest.fixture
def cluster(rabbitmq_cluster: RabbitCluster) -> Iterator[RabbitCluster]:
    """The session's cluster, every node running again afterwards."""
    yield rabbitmq_cluster
    for node in rabbitmq_cluster.nodes:
        if not node.running:
            rabbitmq_cluster.start_node(node)


def restart_node(cluster: RabbitCluster, node: Node) -> float:
    """Start ``node`` again; returns the time (monotonic) it served AMQP again."""
    cluster.start_node(node)
    return time.monotonic()


def job_ids_of(processes: list[ServiceProcess], event: str) -> set[str]:
    """Job ids of every ``event`` the processes logged."""
    return {str(e.get("job_id")) for p in processes for e in log_events(p, event)}


async def until_consumed_again(fleet: Fleet, started_before: set[str]) -> None:
    """Until a request a compiler took after the kill has its result applied: both queues
    (``latex.compile`` and ``latex.apply``) are consumed again."""
    compilers, appliers = fleet.of("compiler"), fleet.of("applier")
    async with asyncio.timeout(180):
        while True:
            started = await asyncio.to_thread(job_ids_of, compilers, "compile_started")
            delivered = await asyncio.to_thread(job_ids_of, appliers, "result_delivered")
            if (started - started_before) & delivered:
                return
            await asyncio.sleep(0.25)


async def until_all_final(dsn: str, expected: int, stalled_s: float = 120) -> dict[str, int]:
    """Until the database holds ``expected`` jobs and none is still queued; their states.

    Gives up only when no job became final for ``stalled_s`` (a lost job never does), so a
    slow, loaded machine finishes the batch instead of failing it.
    """
    connection = await asyncpg.connect(dsn)
    try:
        finals, last_progress = -1, time.monotonic()
        while True:
            rows = await connection.fetch("SELECT state, count(*) AS n FROM jobs GROUP BY state")
            states = {r["state"]: r["n"] for r in rows}
            if sum(states.values()) >= expected and not set(states) - FINAL:
                return states
            done = sum(n for state, n in states.items() if state in FINAL)
            if done > finals:
                finals, last_progress = done, time.monotonic()
            elif time.monotonic() - last_progress > stalled_s:
                return states
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def submit_round(
    clients: list[aiohttp.ClientSession],
    documents: list[dict[str, Any]],
    revision: int,
) -> list[str]:
    """A new revision of every document with a compile, alternating between the apis."""
    limit = asyncio.Semaphore(16)

    async def one(i: int, doc: dict[str, Any]) -> str:
        async with limit:
            http = clients[i % len(clients)]
            if revision == 1:
                body = await create(http, hello(i, 1))
                doc["id"] = body["id"]
            else:
                body = await update(http, doc["id"], revision - 1, hello(i, revision))
            doc["revision"] = revision
            return str(body["job_id"])

    return list(await asyncio.gather(*(one(i, d) for i, d in enumerate(documents))))


async def test_a_fleet_on_a_cluster_loses_the_compile_queue_leader_mid_batch(
    cluster: RabbitCluster, s3: S3Server, tmp_path: Path
) -> None:
    began = time.monotonic()
    print(f"\ncluster of {len(cluster.nodes)} nodes formed in {cluster.started_s:.1f} s")
    async with (
        cluster_stack(cluster, s3, tmp_path / "logs") as (fleet, topology, token, dsn),
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as ops,
    ):
        compile_queue = topology.compile_queue.name
        members = await asyncio.to_thread(cluster.queue_members, compile_queue)
        assert sorted(members) == sorted(n.name for n in cluster.nodes)
        assert len(members) == QUORUM_REPLICAS
        auth = {"Authorization": f"Bearer {token}"}
        timeout = aiohttp.ClientTimeout(total=120)
        async with (
            aiohttp.ClientSession(fleet.api_urls[0], headers=auth, timeout=timeout) as api1,
            aiohttp.ClientSession(fleet.api_urls[1], headers=auth, timeout=timeout) as api2,
        ):
            clients = [api1, api2]
            documents: list[dict[str, Any]] = [{} for _ in range(DOCUMENTS)]
            job_ids: list[str] = []
            for revision in (1, 2):
                job_ids += await submit_round(clients, documents, revision)
            async with asyncio.timeout(180):
                while len(job_ids_of(fleet.of("applier"), "result_delivered")) < KILL_AFTER_RESULTS:
                    await asyncio.sleep(0.2)

            # The fault: SIGKILL the node leading latex.compile's quorum.
            leader = cluster.node(await asyncio.to_thread(cluster.queue_leader, compile_queue))
            before = await fleet.nodes(ops)
            dead_address = f"127.0.0.1:{leader.amqp_port}"
            on_dead = sorted(name for name, node in before.items() if node == dead_address)
            started_before = job_ids_of(fleet.of("compiler"), "compile_started")
            await asyncio.to_thread(cluster.kill_node, leader)
            killed_at = time.monotonic()
            consumed = asyncio.create_task(until_consumed_again(fleet, started_before))
            for revision in range(3, ROUNDS + 1):
                job_ids += await submit_round(clients, documents, revision)
            await consumed
            consumed_again_s = time.monotonic() - killed_at
            new_leader = await asyncio.to_thread(cluster.queue_leader, compile_queue)
            # Every service moved to a live node by itself (none was restarted).
            async with asyncio.timeout(60):
                while True:
                    after = await fleet.nodes(ops)
                    if all(node not in (None, dead_address) for node in after.values()):
                        break
                    await asyncio.sleep(0.5)
            # The node comes back while the batch drains; it rejoins and catches up.
            restart = asyncio.create_task(asyncio.to_thread(restart_node, cluster, leader))
            states = await until_all_final(dsn, len(job_ids))
            restarted_s = await restart - killed_at
            connection = await asyncpg.connect(dsn)
            try:
                docs = await connection.fetch(
                    "SELECT d.id, d.current_revision, d.pdf_revision, j.state AS pdf_job_state"
                    " FROM documents d LEFT JOIN jobs j ON j.id = d.pdf_job_id"
                )
                unpublished = await connection.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
            finally:
                await connection.close()

    applied = Counter(
        str(e.get("job_id"))
        for p in fleet.of("applier")
        for e in log_events(p, "result_delivered")
        if e.get("answer") == "applied"
    )
    double_applies = sum(n - 1 for n in applied.values() if n > 1)
    moves = {
        name: [str(e.get("node")) for e in log_events(p, "broker_connected")]
        for name, p in fleet.processes.items()
    }
    lost = len(job_ids) - sum(states.get(s, 0) for s in FINAL)
    print(
        f"killed {leader.name} (leader of {compile_queue}; services on it: {on_dead or 'none'});"
        f" new leader {new_leader}\n"
        f"queues consumed again {consumed_again_s:.1f} s after the kill;"
        f" node back {restarted_s:.1f} s after the kill\n"
        f"nodes before the kill {before}\nnodes after {after}\n"
        f"{len(job_ids)} jobs: {dict(sorted(states.items()))}; lost {lost};"
        f" applied twice {double_applies}; superseded {states.get(SUPERSEDED, 0)}\n"
        f"broker connections of each service, in order: {moves}\n"
        f"scenario took {time.monotonic() - began:.1f} s"
    )
    assert len(job_ids) == DOCUMENTS * ROUNDS == len(set(job_ids))
    assert lost == 0, states
    assert states.get("dead", 0) == 0, states
    assert not set(states) - {"applied", "stale", SUPERSEDED}, states
    assert double_applies == 0, applied.most_common(3)
    assert unpublished == 0
    assert len(docs) == DOCUMENTS
    assert all(d["current_revision"] == ROUNDS for d in docs), docs
    assert all(
        d["pdf_revision"] == d["current_revision"] and d["pdf_job_state"] == "applied" for d in docs
    ), [dict(d) for d in docs if d["pdf_revision"] != d["current_revision"]]
    assert new_leader != leader.name
