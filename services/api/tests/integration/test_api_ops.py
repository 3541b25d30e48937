"""Ops endpoints, the OpenAPI document, retention, and the api as a real process."""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from texpipe_api import keys
from texpipe_api.app import create_app
from texpipe_api.auth import create_token
from texpipe_api.config import Settings
from texpipe_api.retention import prune_once
from texpipe_contracts.topology import Topology
from texpipe_testing.processes import ServiceProcess
from texpipe_testing.servers import free_port

HELLO = "\\documentclass{article}\n\\begin{document}\nHello\n\\end{document}\n"
Client = TestClient[Any, Any]


async def test_health_ready_metrics(client: Client, tenant_a: dict[str, str]) -> None:
    assert await (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status == 200, await ready.text()
    assert (await ready.json())["checks"] == ["postgresql", "rabbitmq", "s3"]
    await client.get(f"/v1/jobs/{UUID(int=5)}", headers=tenant_a)
    metrics = await (await client.get("/metrics")).text()
    assert 'texpipe_api_http_requests_total{method="GET",route="/v1/jobs/{job_id}"' in metrics
    assert "texpipe_api_outbox_published_total" in metrics


async def test_openapi_docs_and_the_page(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert "/internal/v1/jobs/{job_id}/result" in document["paths"]
    assert "CompileCompleted" in document["components"]["schemas"]
    for url, scripts in (("/docs", "/docs/docs.js"), ("/", "/page/page.js")):
        page = await client.get(url)
        text = await page.text()
        assert page.content_type == "text/html"
        assert "script-src 'self';" in page.headers["Content-Security-Policy"]
        assert scripts in text
        assert "<script>" not in text  # no inline script
        assert "//" not in text.replace("<!--", "")  # nothing fetched from elsewhere
    for url, kind in (
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
        ("/page/page.js", "text/javascript"),
    ):
        asset = await client.get(url)
        assert (asset.status, asset.content_type) == (200, kind), url
        assert asset.headers["X-Content-Type-Options"] == "nosniff"
    for url in ("/docs/../../etc/passwd", "/page/index.html", "/docs/swagger-ui.js.map"):
        assert (await client.get(url)).status == 404, url


async def test_retention_keeps_the_latest_and_unfinished_jobs(
    client: Client, tenant_a: dict[str, str], api_settings: Settings
) -> None:
    body = {"files": {"main.tex": HELLO}, "compile": True}
    doc = await (await client.post("/v1/documents", json=body, headers=tenant_a)).json()
    url = f"/v1/documents/{doc['id']}/compile"
    jobs = [doc["job_id"]] + [
        (await (await client.post(url, headers=tenant_a)).json())["job_id"] for _ in range(3)
    ]
    conn = await asyncpg.connect(api_settings.database_url.get_secret_value())
    try:
        # Jobs 0, 1 and 3 finished long ago; job 2 is still queued; job 3 is the latest.
        await conn.execute(
            "UPDATE jobs SET state = 'failed', finished_at = now() - interval '40 days'"
            " WHERE id = ANY($1::uuid[])",
            [jobs[0], jobs[1], jobs[3]],
        )
        await prune_once(client.app[keys.PG_POOL], timedelta(days=30))
        rows = await conn.fetch("SELECT id FROM jobs WHERE document_id = $1", UUID(doc["id"]))
        left = {str(row["id"]) for row in rows}
    finally:
        await conn.close()
    assert left == {jobs[2], jobs[3]}


async def test_the_real_process_migrates_makes_tokens_serves_and_stops_gracefully(
    new_database: Callable[[], Awaitable[str]],
    service_env: dict[str, str],
    api_topology: Topology,
    tmp_path: Path,
) -> None:
    database = await new_database()  # migrated already; migrate again: a no-op that succeeds
    port = free_port()
    env = {**os.environ, **service_env, "TEXPIPE_DATABASE_URL": database}
    env["TEXPIPE_NAMESPACE"] = api_topology.namespace
    env |= {"TEXPIPE_API_PORT": str(port), "TEXPIPE_SHUTDOWN_TIMEOUT_S": "5"}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "texpipe_api", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    await asyncio.to_thread(cli, "migrate")
    token = (await asyncio.to_thread(cli, "create-token", "--tenant", "cli")).strip()
    assert token.startswith("tpk_")
    conn = await asyncpg.connect(database)
    try:
        stored = await conn.fetchval("SELECT token_sha256 FROM api_tokens")
    finally:
        await conn.close()
    assert token not in stored  # only the hash is kept

    base = f"http://127.0.0.1:{port}"
    process = ServiceProcess(
        "texpipe_api", env=env, log_path=tmp_path / "api.log", health_url=f"{base}/health"
    )
    await asyncio.to_thread(process.start)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(base) as session:
            body = {"files": {"main.tex": HELLO}, "compile": True}
            async with session.post("/v1/documents", json=body, headers=headers) as response:
                assert response.status == 201
                job = (await response.json())["job_id"]
            # A long-poll in flight when SIGTERM arrives is answered, not cut off.
            poll = asyncio.create_task(session.get(f"/v1/jobs/{job}?wait=30", headers=headers))
            await asyncio.sleep(0.3)
            assert process.process is not None
            process.process.send_signal(signal.SIGTERM)
            response = await asyncio.wait_for(poll, 10)
            assert response.status == 200
            assert (await response.json())["state"] == "queued"
        code = await asyncio.to_thread(process.process.wait, 15)
        assert code == 0, process.tail()
        for secret in ("TEXPIPE_S3_SECRET_KEY", "TEXPIPE_SERVICE_TOKEN"):
            assert env[secret] not in process.tail()  # no secret is ever logged
        assert token not in process.tail()
    finally:
        await asyncio.to_thread(process.stop)


async def test_postgresql_restart_answers_503_then_recovers(
    new_database: Callable[[], Awaitable[str]],
    make_settings: Callable[..., Settings],
    s3_store: object,
) -> None:
    """Every connection the api holds is killed (as a PostgreSQL restart does): requests in
    the gap answer 503 problem+json with Retry-After, then all works again, long-polls too."""
    settings = make_settings(await new_database())
    dsn = settings.database_url.get_secret_value()
    conn = await asyncpg.connect(dsn)
    try:
        headers = {"Authorization": f"Bearer {await create_token(conn, 'restart')}"}
        async with TestClient(TestServer(create_app(settings))) as client:
            body = {"files": {"main.tex": HELLO}}
            doc = await (await client.post("/v1/documents", json=body, headers=headers)).json()
            url = f"/v1/documents/{doc['id']}/compile"
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            statuses = []
            for _ in range(20):
                response = await client.post(url, headers=headers)
                statuses.append(response.status)
                if response.status == 503:
                    assert response.content_type == "application/problem+json"
                    assert response.headers["Retry-After"] == "1"
                    assert (await response.json())["code"] == "DEPENDENCY_UNAVAILABLE"
            assert set(statuses) <= {202, 503}
            assert statuses[-5:] == [202] * 5
            # The LISTEN connection came back too: a final job still wakes its long-poll.
            job = (await (await client.post(url, headers=headers)).json())["job_id"]
            dead = {"reason": "test", "attempts": 0, "queue": "q"}
            service = {"Authorization": f"Bearer {settings.service_token.get_secret_value()}"}

            async def kill_later() -> None:
                await asyncio.sleep(0.3)
                await client.post(f"/internal/v1/jobs/{job}/dead", json=dead, headers=service)

            started = asyncio.get_running_loop().time()
            poll, _ = await asyncio.gather(
                client.get(f"/v1/jobs/{job}?wait=20", headers=headers), kill_later()
            )
            assert (await poll.json())["state"] == "dead"
            assert asyncio.get_running_loop().time() - started < 5
    finally:
        await conn.close()
