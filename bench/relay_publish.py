"""What the outbox relay publishes per second, alone (docs/scaling.md).

Sets up a throwaway deployment (``benchkit.throwaway_deployment``: a fresh PostgreSQL database,
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
import os
import time
from datetime import datetime

import aiohttp
import asyncpg
from benchkit import Deployment, cpu_seconds, queue_depth, run_in_throwaway_deployment

HELLO = "\\documentclass{article}\n\\begin{document}\nHello %d\n\\end{document}\n"


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


async def run(args: argparse.Namespace, deployment: Deployment) -> dict[str, object]:
    base, token = deployment.api_url, deployment.token
    with deployment.api("setup", TEXPIPE_RELAY_ENABLED="false"):
        await make_jobs(base, token, args.documents)
    apis = [deployment.api(f"api{i}").start() for i in range(args.processes)]
    conn = await asyncpg.connect(deployment.dsn)
    try:
        await drained(conn, timeout=120)  # the first jobs' rows
        pids = [api.process.pid for api in apis if api.process is not None]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        committed = await fill_outbox(conn, args.messages)
        last = await drained(conn, timeout=600)
        api_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
        rows = await conn.fetchval("SELECT count(*) FROM outbox")
        depth = await queue_depth(deployment.compile_queue)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1, help="api processes (relays)")
    run_in_throwaway_deployment(parser, run)


if __name__ == "__main__":
    main()
