"""What the outbox relay publishes per second, alone (docs/scaling.md).

Sets up a throwaway deployment like ``api_compile_requests.py`` (a fresh PostgreSQL database,
a RabbitMQ namespace, a SeaweedFS server), then:

1. one api process with its relay off (``TEXPIPE_RELAY_ENABLED=false``) creates
   ``--documents`` documents and one compile job each, then stops;
2. ``--processes`` api processes start with their relays on and publish those first rows;
3. one transaction adds ``--messages`` outbox rows (more rows for the same jobs, each with its
   own message id: the relay publishes one message per row whatever the job) and notifies the
   relays, as a compile request does. The clock is PostgreSQL's: from that commit to the last
   row's ``published_at``, so process start-up is not in the figure.

At the end it checks that the compile queue holds exactly one message per row.

    .venv/bin/python bench/relay_publish.py [--messages 20000] [--processes 1]

Needs RabbitMQ and PostgreSQL at the machine's defaults (or TEXPIPE_TEST_AMQP_URL /
TEXPIPE_TEST_POSTGRES_URL), like the tests.
"""

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
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


async def make_jobs(base: str, token: str, documents: int) -> None:
    """``documents`` documents with one compile job each (an outbox row each)."""
    async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {token}"}) as http:
        for n in range(documents):
            body = {"files": {"main.tex": HELLO % n}}
            async with http.post("/v1/documents", json=body) as response:
                assert response.status == 201, await response.text()
                document = (await response.json())["id"]
            async with http.post(f"/v1/documents/{document}/compile") as response:
                assert response.status == 202, await response.text()


async def fill_outbox(conn: asyncpg.Connection, messages: int) -> datetime:
    """Add ``messages`` rows for the existing jobs in one transaction and wake the relays;
    PostgreSQL's clock just after the commit."""
    jobs = await conn.fetchval("SELECT count(*) FROM jobs")
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO outbox (job_id, message_id) SELECT j.id, gen_random_uuid()"
            " FROM jobs j CROSS JOIN generate_series(1, $1::int) LIMIT $2",
            -(-messages // jobs),
            messages,
        )
        await conn.execute("NOTIFY texpipe_outbox")
    committed: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return committed


async def drained(conn: asyncpg.Connection, timeout: float) -> datetime:
    """Wait until no row is unpublished; the last row's ``published_at``."""
    started = time.perf_counter()
    while await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the outbox did not drain")
        await asyncio.sleep(0.05)
    last: datetime = await conn.fetchval("SELECT max(published_at) FROM outbox")
    return last


async def queue_depth(name: str) -> int:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0


async def run(
    args: argparse.Namespace, env: dict[str, str], dsn: str, queue: str
) -> dict[str, object]:
    base = f"http://127.0.0.1:{env['TEXPIPE_API_PORT']}"
    subprocess.run([sys.executable, "-m", "texpipe_api", "migrate"], env=env, check=True)
    token = subprocess.run(
        [sys.executable, "-m", "texpipe_api", "create-token", "--tenant", "bench"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    logs = Path(tempfile.mkdtemp(prefix="texpipe-bench-"))
    quiet = {**env, "TEXPIPE_RELAY_ENABLED": "false"}
    with ServiceProcess("texpipe_api", env=quiet, log_path=logs / "setup.log",
                        health_url=f"{base}/health"):  # fmt: skip
        await make_jobs(base, token, args.documents)
    apis = [
        ServiceProcess(
            "texpipe_api", env=env, log_path=logs / f"api{i}.log", health_url=f"{base}/health"
        ).start()
        for i in range(args.processes)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        await drained(conn, timeout=120)  # the first jobs' rows
        pids = [api.process.pid for api in apis if api.process is not None]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        committed = await fill_outbox(conn, args.messages)
        last = await drained(conn, timeout=600)
        api_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        rows = await conn.fetchval("SELECT count(*) FROM outbox")
        depth = await queue_depth(queue)
    finally:
        await conn.close()
        for api in apis:
            api.stop()
    seconds = (last - committed).total_seconds()
    return {
        "messages": args.messages,
        "api_processes": args.processes,
        "seconds_commit_to_last_publish": round(seconds, 3),
        "published_per_s": round(args.messages / seconds, 1),
        "api_cpu_ms_per_message": round(1000 * api_cpu / args.messages, 3),
        "machine_load_average": os.getloadavg()[0],
        "messages_in_compile_queue": depth,
        "nothing_lost": depth == rows,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1, help="api processes (relays)")
    args = parser.parse_args()
    topology = build_topology("bench" + secrets.token_hex(4))
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
                "TEXPIPE_NAMESPACE": topology.namespace,
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
