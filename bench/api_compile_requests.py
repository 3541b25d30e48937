"""Compile requests per second through the api, with nothing lost (issue 3's benchmark).

Sets up a throwaway deployment on this machine: a fresh PostgreSQL database (migrated), a
RabbitMQ namespace of its own (topology declared, deleted afterwards), a SeaweedFS server, and
``--processes`` api processes sharing one port (SO_REUSEPORT). It makes ``--requests``
documents first (not timed: one through the api, cloned in SQL), then measures two phases
of ``--requests`` ``POST /v1/documents/{id}/compile`` each, ``--concurrency`` requests in
flight:

- new jobs: one request per document, so each request makes a job (nothing is queued for its
  revision yet). Then it waits until every outbox row is published and checks that the
  database holds one job per 202 and the compile queue one message per job (nothing lost,
  nothing duplicated).
- joins: the same documents again; each request joins its document's queued job (the reuse
  rule), and no job is made.

    .venv/bin/python bench/api_compile_requests.py [--requests 20000] [--concurrency 64]

Needs RabbitMQ and PostgreSQL at the machine's defaults (or TEXPIPE_TEST_AMQP_URL /
TEXPIPE_TEST_POSTGRES_URL), like the tests.
"""

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid

import aiohttp
import asyncpg
from benchkit import (
    Deployment,
    cpu_seconds,
    percentile,
    queue_depth,
    run_in_throwaway_deployment,
)

HELLO = "\\documentclass{article}\n\\begin{document}\nHello\n\\end{document}\n"


async def load(
    base: str, token: str, documents: list[str], requests: int, concurrency: int
) -> tuple[float, list[float], list[str], int]:
    """Send ``requests`` compile requests, request n for ``documents[n % len(documents)]``;
    (seconds, latencies, job ids of the 202s, non-202 answers)."""
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


# Documents made through the api cost an S3 round trip each (tens a second on a loaded
# machine): the benchmark makes one through the api and clones its row and revision in SQL.
_CLONE_DOCUMENTS = """
WITH made AS (
    INSERT INTO documents (id, tenant_id, current_revision)
    SELECT gen_random_uuid(), d.tenant_id, 1 FROM documents d, generate_series(1, $2)
    WHERE d.id = $1
    RETURNING id
), revised AS (
    INSERT INTO revisions (document_id, revision, main_file, engine, engine_source, source_key,
                           source_sha256, source_size, file_count)
    SELECT made.id, 1, r.main_file, r.engine, r.engine_source, r.source_key, r.source_sha256,
           r.source_size, r.file_count
    FROM made, revisions r WHERE r.document_id = $1 AND r.revision = 1
)
SELECT id::text FROM made
"""


async def create_documents(base: str, token: str, dsn: str, count: int) -> list[str]:
    """``count`` documents at revision 1 with no job (not timed)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base, headers=headers) as http:
        body = {"files": {"main.tex": HELLO}}
        async with http.post("/v1/documents", json=body) as response:
            assert response.status == 201, await response.text()
            template = (await response.json())["id"]
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(_CLONE_DOCUMENTS, uuid.UUID(template), count)
    finally:
        await conn.close()
    return [row["id"] for row in rows]


def figures(
    elapsed: float, latencies: list[float], jobs: list[str], cpu_s: float
) -> dict[str, float]:
    """Throughput, latency and api CPU of one measured phase."""
    return {
        "seconds": round(elapsed, 3),
        "per_s": round(len(jobs) / elapsed, 1),
        "latency_ms_p50": round(1000 * statistics.median(latencies), 2),
        "latency_ms_p99": round(1000 * percentile(latencies, 0.99), 2),
        "latency_ms_max": round(1000 * max(latencies), 2),
        "api_cpu_ms_per_request": round(1000 * cpu_s / max(1, len(jobs)), 3),
    }


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


async def run(args: argparse.Namespace, deployment: Deployment) -> dict[str, object]:
    base, token, dsn = deployment.api_url, deployment.token, deployment.dsn
    apis = [deployment.api(f"api{i}").start() for i in range(args.processes)]
    try:
        warm = min(2000, args.requests)
        documents = await create_documents(base, token, dsn, warm + args.requests)
        warm_docs, measured_docs = documents[:warm], documents[warm:]
        # Warm-up of both paths: a new job per document, then requests that join them.
        await load(base, token, warm_docs, warm, args.concurrency)
        await load(base, token, warm_docs, warm, args.concurrency)
        jobs_before = await count_jobs(dsn)
        pids = [api.process.pid for api in apis if api.process is not None]

        def api_cpu() -> float:
            return sum(cpu_seconds(pid) for pid in pids)

        # New work: one request per document, each makes a job (and a message).
        cpu_before = api_cpu()
        client_before = time.process_time()
        elapsed, latencies, jobs, failures = await load(
            base, token, measured_docs, args.requests, args.concurrency
        )
        new_jobs = figures(elapsed, latencies, jobs, api_cpu() - cpu_before)
        new_jobs["bench_client_cpu_ms_per_request"] = round(
            1000 * (time.process_time() - client_before) / max(1, len(jobs)), 3
        )
        drain_s = await wait_drained(dsn, timeout=120)
        total_jobs = await count_jobs(dsn)
        depth = await queue_depth(deployment.compile_queue)
        # Joins: the same documents again; each request joins its document's queued job.
        cpu_before = api_cpu()
        joined_s, join_latencies, joined, join_failures = await load(
            base, token, measured_docs, args.requests, args.concurrency
        )
        joins = figures(joined_s, join_latencies, joined, api_cpu() - cpu_before)
        jobs_after_joins = await count_jobs(dsn)
    finally:
        for api in apis:
            api.stop()
    return {
        "requests_per_phase": args.requests,
        "concurrency": args.concurrency,
        "api_processes": args.processes,
        "new_jobs": {"accepted_202": len(jobs), "failed": failures, **new_jobs},
        "joins": {"accepted_202": len(joined), "failed": join_failures, **joins},
        "outbox_drained_s_after_last_request": round(drain_s, 3),
        "machine_load_average": os.getloadavg()[0],
        "jobs_in_database": total_jobs,
        "messages_in_compile_queue": depth,
        # Every new-work 202 is its own job and its own message; every join answered with the
        # job its document already had, and made none.
        "nothing_lost": failures == 0
        and len(set(jobs)) == len(jobs) == args.requests
        and total_jobs == jobs_before + len(jobs)
        and depth == total_jobs,
        "joins_joined": join_failures == 0
        and sorted(joined) == sorted(jobs)
        and jobs_after_joins == total_jobs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--processes", type=int, default=1, help="api processes (one port)")
    run_in_throwaway_deployment(parser, run)


if __name__ == "__main__":
    main()
