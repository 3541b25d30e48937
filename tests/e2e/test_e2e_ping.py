"""The enqueue ping through the three real services, and the post-deploy check that uses it."""

import subprocess
import sys
from pathlib import Path

import aiohttp
from e2e_helpers import Pipeline

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["accepted_ms", "published_ms", "compile_ms", "applied_ms"]


async def test_the_ping_times_every_stage_of_a_real_compile(pipeline: Pipeline) -> None:
    token = pipeline.env["TEXPIPE_SERVICE_TOKEN"]
    async with (
        aiohttp.ClientSession(pipeline.api_url) as session,
        session.post(
            "/internal/v1/ping",
            json={"timeout_s": 60},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        body = await response.json(content_type=None)
    assert response.status == 200, body
    assert body["status"] == "ok"
    stages = body["stages"]
    assert list(stages) == STAGES, body
    assert all(isinstance(ms, int) and ms >= 0 for ms in stages.values()), body
    assert stages["accepted_ms"] <= stages["published_ms"] <= stages["applied_ms"], body
    assert stages["compile_ms"] > 0, body  # the nonce: TeX ran, no cache answered
    assert stages["applied_ms"] <= body["total_ms"], body


def test_the_post_deploy_check_passes_against_the_pipeline(pipeline: Pipeline) -> None:
    check = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "deploy" / "post_deploy_check.py"),
            pipeline.api_url,
            "--ping-timeout",
            "60",
        ],
        env={"TEXPIPE_SERVICE_TOKEN": pipeline.env["TEXPIPE_SERVICE_TOKEN"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "post-deploy: ping: ok in" in check.stdout
    assert "post-deploy: all checks passed" in check.stdout
