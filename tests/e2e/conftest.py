"""The three services as real processes against this session's real servers."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from e2e_helpers import COMPILE_TIMEOUT_MS, CORPUS, Pipeline
from texpipe_contracts.topology import Topology
from texpipe_testing.processes import ServiceProcess, migrate_and_sign_in
from texpipe_testing.servers import free_port


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus beside the project."""
    assert (CORPUS / "manifest.json").exists(), f"corpus not found at {CORPUS}"
    return CORPUS


@pytest.fixture(scope="session")
def pipeline(
    service_env: dict[str, str],
    declared_topology: Topology,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pipeline]:
    """api + compiler + applier, migrated, with a tenant token."""
    log_dir = tmp_path_factory.mktemp("e2e-logs")
    api_port, compiler_ops, applier_ops = free_port(), free_port(), free_port()
    env = {
        **service_env,
        "TEXPIPE_API_PORT": str(api_port),
        "TEXPIPE_API_URL": f"http://127.0.0.1:{api_port}",
        "LATEX_COMPILE_TIMEOUT_MS": str(COMPILE_TIMEOUT_MS),
        "TEXPIPE_COMPILER_CONCURRENCY": "2",
        "TEXPIPE_DB_POOL_MAX": "8",
        # Retry delays shorter than the defaults (5 s, 120 s) that still outlast the one-minute
        # api outage below: 8 retries take at least (2+4+8+16+30*4)/2 = 75 s with jitter.
        "TEXPIPE_APPLY_RETRY_BASE_S": "2",
        "TEXPIPE_APPLY_RETRY_CAP_S": "30",
    }
    token = migrate_and_sign_in(env, "e2e")
    services = {
        "api": ServiceProcess(
            "texpipe_api",
            env=env,
            log_path=log_dir / "api.log",
            health_url=f"http://127.0.0.1:{api_port}/health",
        ),
        "compiler": ServiceProcess(
            "texpipe_compiler",
            env={**env, "TEXPIPE_OPS_PORT": str(compiler_ops)},
            log_path=log_dir / "compiler.log",
            health_url=f"http://127.0.0.1:{compiler_ops}/health",
        ),
        "applier": ServiceProcess(
            "texpipe_applier",
            env={**env, "TEXPIPE_OPS_PORT": str(applier_ops)},
            log_path=log_dir / "applier.log",
            health_url=f"http://127.0.0.1:{applier_ops}/health",
        ),
    }
    for service in services.values():
        service.start(timeout=60)
    pipeline = Pipeline(f"http://127.0.0.1:{api_port}", token, env, services, log_dir)
    yield pipeline
    for service in pipeline.services.values():
        service.stop(timeout=40)


@pytest_asyncio.fixture(loop_scope="session")
async def http(pipeline: Pipeline) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client signed in as the e2e tenant."""
    async with aiohttp.ClientSession(
        pipeline.api_url,
        headers={"Authorization": f"Bearer {pipeline.token}"},
        timeout=aiohttp.ClientTimeout(total=120),
    ) as session:
        yield session
