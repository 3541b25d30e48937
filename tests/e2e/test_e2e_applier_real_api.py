"""The applier's bounded retries, dead letters and replay against the real api process.

A second applier, in a broker namespace of its own and with short retry delays, delivers a
result that the real api cannot accept yet (its PDF is not in S3): it is tried 1 + 8 times,
dead-lettered with the reason, the job ends ``dead``; once the PDF is stored, ``dlq replay``
re-drives the dead letter until the api applies it.
"""

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from uuid import UUID

import aio_pika
import aiohttp
from e2e_helpers import Pipeline, create, wait_final
from pydantic import SecretStr
from texpipe_contracts.topology import HEADER_ATTEMPT, HEADER_ERROR_CODE, build_topology
from texpipe_contracts.v1 import CompileCompleted, Engine, Outcome, PdfRef
from texpipe_servicekit.s3 import open_s3_store
from texpipe_servicekit.settings import S3Settings
from texpipe_testing.plugin import delete_topology
from texpipe_testing.processes import ServiceProcess
from texpipe_testing.servers import free_port

PDF = b"%PDF-1.5\n% texpipe e2e: a result the api cannot verify yet\n%%EOF\n"


async def job_state(http: aiohttp.ClientSession, job_id: str) -> dict[str, object]:
    async with http.get(f"/v1/jobs/{job_id}") as response:
        job: dict[str, object] = await response.json()
        return job


async def until_state(http: aiohttp.ClientSession, job_id: str, state: str) -> None:
    async with asyncio.timeout(60):
        while (await job_state(http, job_id))["state"] != state:
            await asyncio.sleep(0.1)


async def test_retries_dead_letter_and_replay_against_the_real_api(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    # Keep the job queued: no compiler takes its request meanwhile.
    pipeline.services["compiler"].stop()
    topology = build_topology(pipeline.env["TEXPIPE_NAMESPACE"] + "-b")
    ops_port = free_port()
    env = {
        **pipeline.env,
        "TEXPIPE_NAMESPACE": topology.namespace,
        "TEXPIPE_OPS_PORT": str(ops_port),
        "TEXPIPE_APPLY_RETRY_BASE_S": "0.05",
        "TEXPIPE_APPLY_RETRY_CAP_S": "0.2",
    }
    applier = ServiceProcess(
        "texpipe_applier",
        env=env,
        log_path=pipeline.log_dir / "applier-b.log",
        health_url=f"http://127.0.0.1:{ops_port}/health",
    )
    try:
        applier.start(timeout=60)
        created = await create(
            http, {"main.tex": "\\documentclass{article}\\begin{document}Retried.\\end{document}\n"}
        )
        sha = hashlib.sha256(PDF).hexdigest()
        key = f"outputs/e2e-{sha[:16]}/output.pdf"
        result = CompileCompleted(
            job_id=UUID(created["job_id"]),
            document_id=UUID(created["id"]),
            revision=1,
            outcome=Outcome.SUCCEEDED,
            pdf=PdfRef(key=key, size=len(PDF), sha256=sha, pages=1),
            duration_ms=1,
            engine=Engine.PDFLATEX,
            engine_version="e2e",
        )
        connection = await aio_pika.connect(pipeline.env["TEXPIPE_AMQP_URL"])
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(topology.exchange.name)
            await exchange.publish(
                aio_pika.Message(
                    result.model_dump_json().encode(), content_type="application/json"
                ),
                routing_key="compile.completed.v1",
            )
            # 1 + 8 tries, each answered 409 LATEX_JOB_RESULT_INVALID by the real api.
            await until_state(http, created["job_id"], "dead")
            dlq = await channel.get_queue(topology.apply_dlq.name, ensure=False)
            dead = await dlq.get(no_ack=False, fail=True, timeout=10)
            assert dead is not None
            assert dead.headers[HEADER_ATTEMPT] == 9
            assert dead.headers[HEADER_ERROR_CODE] == "RETRIES_EXHAUSTED"
            await dead.nack(requeue=True)

        settings = S3Settings(
            s3_endpoint_url=pipeline.env["TEXPIPE_S3_ENDPOINT_URL"],
            s3_bucket=pipeline.env["TEXPIPE_S3_BUCKET"],
            s3_access_key=SecretStr(pipeline.env["TEXPIPE_S3_ACCESS_KEY"]),
            s3_secret_key=SecretStr(pipeline.env["TEXPIPE_S3_SECRET_KEY"]),
        )
        async with open_s3_store(settings) as store:
            await store.put(key, PDF, content_type="application/pdf", sha256=sha)
        # The cause is fixed: the operator replays the dead letter.
        replay = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "texpipe_applier", "dlq", "replay", "--all"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert replay.returncode == 0, replay.stderr
        job = await wait_final(http, created["job_id"])
        assert job["state"] in {"dead", "applied"}
        await until_state(http, created["job_id"], "applied")
        async with http.get(f"/v1/documents/{created['id']}") as response:
            document = await response.json()
        assert document["pdf"]["sha256"] == sha
        listed = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "texpipe_applier", "dlq", "list", "--json"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert [json.loads(line) for line in listed.stdout.splitlines() if line.strip()] == []
    finally:
        applier.stop()
        await delete_topology(pipeline.env["TEXPIPE_AMQP_URL"], topology)
        pipeline.restart("compiler")


async def test_a_compile_request_the_compiler_dead_letters_ends_as_a_dead_job(
    http: aiohttp.ClientSession, pipeline: Pipeline
) -> None:
    pipeline.services["compiler"].stop()
    topology = build_topology(pipeline.env["TEXPIPE_NAMESPACE"])
    try:
        created = await create(
            http,
            {
                "main.tex": "\\documentclass{article}\\begin{document}"
                "Never compiled.\\end{document}\n"
            },
        )
        connection = await aio_pika.connect(pipeline.env["TEXPIPE_AMQP_URL"])
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.get_queue(topology.compile_queue.name, ensure=False)
            # Take the api's real request away and put in its place one of a major version
            # the compiler does not know, for the same job. Requests an earlier test left for
            # the (stopped) compiler are held meanwhile and given back untouched.
            others = []
            async with asyncio.timeout(10):
                while True:
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        await asyncio.sleep(0.05)
                        continue
                    body = json.loads(message.body)
                    if body["job_id"] == created["job_id"]:
                        break
                    others.append(message)
            await message.ack()
            for other in others:
                await other.nack(requeue=True)
            body["schema_version"] = 2
            exchange = await channel.get_exchange(topology.exchange.name)
            await exchange.publish(
                aio_pika.Message(
                    json.dumps(body).encode(),
                    content_type="application/json",
                    correlation_id=created["job_id"],
                ),
                routing_key="compile.requested.v1",
            )
        pipeline.restart("compiler")
        await until_state(http, created["job_id"], "dead")
        job = await job_state(http, created["job_id"])
        assert "version" in str(job["dead_reason"])
    finally:
        if not pipeline.services["compiler"].running:
            pipeline.restart("compiler")
