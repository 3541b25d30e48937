"""Compile requests per second through the api, with nothing lost (issue 3's benchmark).

Sets up a throwaway deployment on this machine: a fresh PostgreSQL database (migrated), a
RabbitMQ namespace of its own (topology declared, deleted afterwards), a SeaweedFS server, and
``--processes`` api processes sharing one port (SO_REUSEPORT). Then it creates ``--documents``
documents and sends ``--requests`` ``POST /v1/documents/{id}/compile`` with ``--concurrency``
requests in flight, measuring throughput and latency. At the end it waits until every outbox
row is published and checks that the database holds one job per 202 and the compile queue
holds exactly one message per job (nothing lost, nothing duplicated).

    .venv/bin/python bench/api_compile_requests.py [--requests 20000] [--concurrency 64]

Needs RabbitMQ and PostgreSQL at the machine's defaults (or TEXPIPE_TEST_AMQP_URL /
TEXPIPE_TEST_POSTGRES_URL), like the tests.
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
from benchkit import percentile
from faststream.rabbit import RabbitBroker
from texpipe_contracts.topology import build_topology
from texpipe_servicekit.rabbit import declare_topology
from texpipe_testing.plugin import delete_topology
from texpipe_testing.processes import ServiceProcess
from texpipe_testing.seaweed import seaweedfs
from texpipe_testing.servers import free_port

HELLO = "\\documentclass{article}\n\\begin{document}\nHello %d\n\\end{document}\n"
AMQP_URL = os.environ.get("TEXPIPE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_URL = os.environ.get(
    "TEXPIPE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    base: str, token: str, documents: list[str], requests: int, concurrency: int
) -> tuple[float, list[float], list[str], int]:
    """Send the compile requests; (seconds, latencies, job ids, non-202 answers)."""
    latencies: list[float] = []
    jobs: list[str] = []
    failures = 0
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as http:

        async def worker() -> None:
            nonlocal failures
            for n in counter:
                url = f"/v1/documents/{documents[n % len(documents)]}/compile"
                started = time.perf_counter()
                async with http.post(url) as response:
                    body = await response.read()
                latencies.append(time.perf_counter() - started)
                if response.status == 202:
                    jobs.append(json.loads(body)["job_id"])
                else:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, jobs, failures


async def wait_drained(dsn: str, timeout: float) -> float:
    """Seconds until the outbox has no unpublished row."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            if time.perf_counter() - started > timeout:
                raise TimeoutError("the outbox did not drain")
            await asyncio.sleep(0.05)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def count_jobs(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM jobs")
        return count
    finally:
        await conn.close()


async def queue_depth(name: str) -> int:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0


async def run(
    args: argparse.Namespace, env: dict[str, str], dsn: str, queue: str
) -> dict[str, object]:
    port = int(env["TEXPIPE_API_PORT"])
    base = f"http://127.0.0.1:{port}"
    subprocess.run([sys.executable, "-m", "texpipe_api", "migrate"], env=env, check=True)
    token = subprocess.run(
        [sys.executable, "-m", "texpipe_api", "create-token", "--tenant", "bench"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    logs = Path(tempfile.mkdtemp(prefix="texpipe-bench-"))
    apis = [
        ServiceProcess(
            "texpipe_api", env=env, log_path=logs / f"api{i}.log", health_url=f"{base}/health"
        ).start()
        for i in range(args.processes)
    ]
    try:
        async with aiohttp.ClientSession(
            base, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            documents = []
            for n in range(args.documents):
                body = {"files": {"main.tex": HELLO % n}}
                async with http.post("/v1/documents", json=body) as response:
                    assert response.status == 201, await response.text()
                    documents.append((await response.json())["id"])
        await load(base, token, documents, min(2000, args.requests), args.concurrency)  # warm-up
        warmup_jobs = await count_jobs(dsn)
        pids = [api.process.pid for api in apis if api.process is not None]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        client_before = time.process_time()
        elapsed, latencies, jobs, failures = await load(
            base, token, documents, args.requests, args.concurrency
        )
        drain_s = await wait_drained(dsn, timeout=120)
        api_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        client_cpu = time.process_time() - client_before
        total_jobs = await count_jobs(dsn)
        depth = await queue_depth(queue)
    finally:
        for api in apis:
            api.stop()
    return {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "api_processes": args.processes,
        "accepted_202": len(jobs),
        "failed": failures,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(len(jobs) / elapsed, 1),
        "latency_ms_p50": round(1000 * statistics.median(latencies), 2),
        "latency_ms_p99": round(1000 * percentile(latencies, 0.99), 2),
        "latency_ms_max": round(1000 * max(latencies), 2),
        "outbox_drained_s_after_last_request": round(drain_s, 3),
        "api_cpu_ms_per_request": round(1000 * api_cpu / max(1, len(jobs)), 3),
        "bench_client_cpu_ms_per_request": round(1000 * client_cpu / max(1, len(jobs)), 3),
        "machine_load_average": os.getloadavg()[0],
        "jobs_in_database": total_jobs,
        "messages_in_compile_queue": depth,
        "nothing_lost": failures == 0
        and total_jobs == warmup_jobs + len(jobs)
        and depth == total_jobs,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1, help="api processes (one port)")
    args = parser.parse_args()

    namespace = "bench" + secrets.token_hex(4)
    topology = build_topology(namespace)
    async with RabbitBroker(AMQP_URL, logger=None) as broker:
        await broker.connect()
        await declare_topology(broker, topology)
    database = "texpipe_bench_" + secrets.token_hex(4)
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{database}"')
    dsn = urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{database}"))
    try:
        with seaweedfs(bucket="bench") as s3:
            env = {
                **os.environ,
                "TEXPIPE_AMQP_URL": AMQP_URL,
                "TEXPIPE_NAMESPACE": namespace,
                "TEXPIPE_DATABASE_URL": dsn,
                "TEXPIPE_S3_ENDPOINT_URL": s3.endpoint_url,
                "TEXPIPE_S3_BUCKET": s3.bucket,
                "TEXPIPE_S3_ACCESS_KEY": s3.access_key,
                "TEXPIPE_S3_SECRET_KEY": s3.secret_key,
                "TEXPIPE_SERVICE_TOKEN": secrets.token_hex(16),
                "TEXPIPE_API_PORT": str(free_port()),
                "TEXPIPE_LOG_LEVEL": "WARNING",
                "TEXPIPE_API_REUSE_PORT": "true",
            }
            report = await run(args, env, dsn, topology.compile_queue.name)
    finally:
        await delete_topology(AMQP_URL, topology)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
