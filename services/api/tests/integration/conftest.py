"""Fixtures of the api's integration tests: a migrated database, the app under a real HTTP
server, tenant tokens, a recorder of everything published to the compile queue, S3."""

import asyncio
import json
import secrets
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import aio_pika
import asyncpg
import pytest
import pytest_asyncio
from aio_pika.abc import AbstractIncomingMessage
from aiohttp.test_utils import TestClient, TestServer
from faststream.rabbit import RabbitBroker
from texpipe_api.app import create_app
from texpipe_api.auth import create_token
from texpipe_api.config import Settings
from texpipe_api.db.migrate import upgrade_async
from texpipe_contracts.topology import Topology, build_topology
from texpipe_servicekit.rabbit import declare_topology
from texpipe_servicekit.s3 import S3Store, open_s3_store
from texpipe_testing.plugin import delete_topology
from texpipe_testing.seaweed import S3Server

HELLO = "\\documentclass{article}\n\\begin{document}\nHello\n\\end{document}\n"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_db(new_database: Callable[[], Awaitable[str]]) -> str:
    """A migrated database of the api's tests alone. The session's own database is the one the
    end-to-end suite's api uses in the same run: the outbox relay of this session's app would
    claim that api's outbox rows and publish them into this suite's broker namespace."""
    return await new_database()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_topology(amqp_url: str, namespace: str) -> AsyncIterator[Topology]:
    """A broker namespace of the api's tests alone: the compile requests they publish never
    reach the queues that other services' tests consume in the same session."""
    topology = build_topology(f"{namespace}-api")
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.connect()
        await declare_topology(broker, topology)
    yield topology
    await delete_topology(amqp_url, topology)


@pytest.fixture(scope="session")
def api_settings(
    api_db: str, api_topology: Topology, service_env: dict[str, str], s3: S3Server
) -> Settings:
    """Settings of the session's api: real servers, fast relay retries, short waits."""
    return Settings(
        database_url=api_db,
        amqp_url=service_env["TEXPIPE_AMQP_URL"],
        namespace=api_topology.namespace,
        s3_endpoint_url=s3.endpoint_url,
        s3_bucket=s3.bucket,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        service_token=service_env["TEXPIPE_SERVICE_TOKEN"],
        relay_retry_s=0.2,
        relay_sweep_s=1.0,
        token_cache_s=0,
        max_files=20,
        max_source_bytes=64 * 1024,
        max_body_bytes=256 * 1024,
        db_pool_max=20,  # the machine allows 100 connections, shared with other suites
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def client(api_settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    """The api under a real HTTP server for the whole session."""
    async with TestClient(TestServer(create_app(api_settings))) as test_client:
        yield test_client


async def _token_headers(dsn: str, tenant: str) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        token = await create_token(conn, tenant)
    finally:
        await conn.close()
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tenant_a(api_db: str) -> dict[str, str]:
    """Auth headers of tenant A."""
    return await _token_headers(api_db, "tenant-a")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def tenant_b(api_db: str) -> dict[str, str]:
    """Auth headers of tenant B."""
    return await _token_headers(api_db, "tenant-b")


@pytest.fixture(scope="session")
def service_headers(api_settings: Settings) -> dict[str, str]:
    """Auth headers of the applier."""
    return {"Authorization": f"Bearer {api_settings.service_token.get_secret_value()}"}


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def s3_store(api_settings: Settings) -> AsyncIterator[S3Store]:
    """The session's bucket."""
    async with open_s3_store(api_settings) as store:
        yield store


class PublishedMessages:
    """Records every message that reaches the compile queue during the session."""

    def __init__(self) -> None:
        self.by_job: dict[UUID, list[AbstractIncomingMessage]] = defaultdict(list)
        self._changed = asyncio.Event()

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        body = json.loads(message.body)
        self.by_job[UUID(body["job_id"])].append(message)
        await message.ack()
        self._changed.set()

    async def wait_for(self, job_ids: Iterable[UUID], timeout: float = 10.0) -> None:
        """Until every job in ``job_ids`` has at least one message (or fail)."""
        wanted = set(job_ids)

        async def seen_all() -> None:
            while not wanted <= self.by_job.keys():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(seen_all(), timeout)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def published(amqp_url: str, api_topology: Topology) -> AsyncIterator[PublishedMessages]:
    """What the relays published, by job id."""
    recorder = PublishedMessages()
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=1000)
    queue = await channel.get_queue(api_topology.compile_queue.name, ensure=False)
    await queue.consume(recorder.on_message)
    yield recorder
    await connection.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def new_database(postgres_dsn: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Make another migrated database (for tests that must own the outbox); dropped at exit."""
    created: list[str] = []
    admin_url = urlunsplit(urlsplit(postgres_dsn)._replace(path="/postgres"))

    async def make() -> str:
        name = "texpipe_api_" + secrets.token_hex(5)
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        dsn = urlunsplit(urlsplit(postgres_dsn)._replace(path=f"/{name}"))
        await upgrade_async(dsn)
        return dsn

    yield make
    admin = await asyncpg.connect(admin_url)
    try:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def make_settings(api_settings: Settings) -> Callable[..., Settings]:
    """``make_settings(database_url, **overrides)``: the session settings, changed."""

    def make(database_url: str, **overrides: Any) -> Settings:
        fields = api_settings.model_dump() | {"database_url": database_url} | overrides
        return Settings(**fields)

    return make
