"""pytest plugin: each test session gets its own broker namespace, database and S3 bucket.

Loaded by the root ``pyproject.toml`` (``-p texpipe_testing.plugin``). Servers come from the
environment (``TEXPIPE_TEST_AMQP_URL``, ``TEXPIPE_TEST_POSTGRES_URL``) with the machine's
defaults; SeaweedFS is started by the harness itself. A server that cannot be reached fails
the tests that need it, with how to start it: it never skips.
"""

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest
import pytest_asyncio
from faststream.rabbit import RabbitBroker
from texpipe_contracts.topology import Topology, build_topology
from texpipe_servicekit.rabbit import declare_topology

from texpipe_testing.cluster import ClusterStart, RabbitCluster, cluster_unavailable_reason
from texpipe_testing.seaweed import S3Server, seaweedfs
from texpipe_testing.servers import in_ci, require_server

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The broker all tests of this session use (each in its own namespace)."""
    url = os.environ.get("TEXPIPE_TEST_AMQP_URL", DEFAULT_AMQP_URL)
    require_server("RabbitMQ", url, 5672)
    return url


_CLUSTER = ClusterStart()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start booting the three-node cluster now when a collected test needs it: its ~40 s
    (two quiet cores; more under load) then pass while the tests before it run."""
    wanted = any("rabbitmq_cluster" in getattr(i, "fixturenames", ()) for i in session.items)
    if wanted and cluster_unavailable_reason() is None:
        _CLUSTER.begin()


def pytest_sessionfinish() -> None:
    """Stop the cluster this session started (and only it)."""
    _CLUSTER.end()


@pytest.fixture(scope="session")
def rabbitmq_cluster() -> RabbitCluster:
    """A three-node RabbitMQ cluster of this session's own (``texpipe_testing.cluster``),
    booted in the background from the end of collection and stopped when the session ends.
    Where the machine cannot run one (no rabbitmq-server, not root) the test is skipped,
    except under CI=true, where that fails; a cluster that fails to start always fails."""
    reason = cluster_unavailable_reason()
    if reason is not None:
        if in_ci():
            pytest.fail(f"cannot start a RabbitMQ cluster: {reason}", pytrace=False)
        pytest.skip(f"cannot start a RabbitMQ cluster: {reason}")  # not under CI: failed above
    return _CLUSTER.cluster()


@pytest.fixture(scope="session")
def namespace() -> str:
    """A prefix no other test run uses: its queues and exchanges are its own."""
    return "t" + secrets.token_hex(5)


@pytest.fixture(scope="session")
def topology(namespace: str) -> Topology:
    """This session's topology."""
    return build_topology(namespace)


async def delete_topology(amqp_url: str, topology: Topology) -> None:
    """Delete every queue and exchange of ``topology`` (whatever they hold)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for queue in topology.queues:
            channel = await connection.channel()
            # Quorum queues refuse if-unused/if-empty deletes by closing the channel (NOTES.md).
            await channel.queue_delete(queue.name, if_unused=False, if_empty=False)
            await channel.close()
        channel = await connection.channel()
        for exchange in topology.exchanges:
            await channel.exchange_delete(exchange.name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def declared_topology(amqp_url: str, topology: Topology) -> AsyncIterator[Topology]:
    """This session's topology, declared as the services declare it, deleted afterwards."""
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.connect()
        await declare_topology(broker, topology)
    yield topology
    await delete_topology(amqp_url, topology)


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def admin_postgres_url() -> str:
    """The PostgreSQL server tests use (its maintenance database), failing when unreachable."""
    admin_url = os.environ.get("TEXPIPE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    require_server("PostgreSQL", admin_url, 5432)
    return admin_url


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    """A database created for the caller and dropped after it; yields its URL."""
    name = "texpipe_test_" + secrets.token_hex(5)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _with_database(admin_url, name)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_dsn() -> AsyncIterator[str]:
    """A database created for this session and dropped after it."""
    async with fresh_database(admin_postgres_url()) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A SeaweedFS S3 server started for this session, with a bucket name of its own."""
    with seaweedfs(bucket="texpipe-" + secrets.token_hex(4)) as server:
        yield server


def env_for_servers(
    amqp_url: str, namespace: str, database_url: str, s3: S3Server
) -> dict[str, str]:
    """Environment variables that point a texpipe service at these servers: the broker (one
    URL, or several comma-separated), its namespace, the database, S3, a fresh service token
    and JSON logs."""
    return {
        "TEXPIPE_AMQP_URL": amqp_url,
        "TEXPIPE_NAMESPACE": namespace,
        "TEXPIPE_DATABASE_URL": database_url,
        "TEXPIPE_S3_ENDPOINT_URL": s3.endpoint_url,
        "TEXPIPE_S3_BUCKET": s3.bucket,
        "TEXPIPE_S3_ACCESS_KEY": s3.access_key,
        "TEXPIPE_S3_SECRET_KEY": s3.secret_key,
        "TEXPIPE_SERVICE_TOKEN": "service-" + secrets.token_hex(16),
        "TEXPIPE_LOG_FORMAT": "json",
    }


@pytest.fixture(scope="session")
def service_env(amqp_url: str, namespace: str, postgres_dsn: str, s3: S3Server) -> dict[str, str]:
    """Environment variables that point a texpipe service at this session's servers."""
    return env_for_servers(amqp_url, namespace, postgres_dsn, s3)
