"""The outbox: what is published, publication after a broker outage, no double publication."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import aio_pika
import asyncpg
from aiohttp.test_utils import TestClient, TestServer
from texpipe_api.app import create_app
from texpipe_api.auth import create_token
from texpipe_api.config import Settings
from texpipe_api.outbox import OutboxRelay
from texpipe_contracts.bundle import build_bundle
from texpipe_contracts.v1 import CompileRequested
from texpipe_testing.servers import free_port

HELLO = "\\documentclass{article}\n\\begin{document}\nHello\n\\end{document}\n"
Client = TestClient[Any, Any]


class BrokerProxy:
    """A TCP proxy in front of RabbitMQ: 'the broker' is down while it does not listen, and
    dropping its connections is a broker restart as the api sees it."""

    def __init__(self, port: int, target_port: int = 5672) -> None:
        self.port, self.target_port = port, target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@contextlib.asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[tuple[Client, dict[str, str]]]:
    """An api on its own database, with a tenant token."""
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        token = await create_token(conn, "outbox-tenant")
    finally:
        await conn.close()
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client, {"Authorization": f"Bearer {token}"}


async def pending(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    finally:
        await conn.close()
    return count


async def until_drained(settings: Settings, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while await pending(settings):
            await asyncio.sleep(0.05)


async def test_message_carries_the_job_and_its_source(
    client: Client, tenant_a: dict[str, str], published: Any, api_settings: Settings
) -> None:
    body = {"files": {"main.tex": "% !TEX program = xelatex\n" + HELLO}, "compile": True}
    created = await (await client.post("/v1/documents", json=body, headers=tenant_a)).json()
    job_id = UUID(created["job_id"])
    await published.wait_for([job_id])
    [message] = published.by_job[job_id]
    assert message.correlation_id == str(job_id)
    assert message.type == "latex.compile.requested.v1"
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.routing_key == "compile.requested.v1"
    request = CompileRequested.model_validate_json(message.body)
    assert str(request.message_id) == message.message_id
    bundle = build_bundle({"main.tex": body["files"]["main.tex"].encode()})  # type: ignore[index]
    assert request.document_id == UUID(created["id"])
    assert request.revision == 1
    assert request.source.key == bundle.key
    assert request.source.sha256 == bundle.sha256
    assert request.engine == "xelatex"
    assert request.main_file == "main.tex"
    assert request.timeout_ms == api_settings.compile_timeout_ms


async def test_accepted_while_the_broker_is_down_and_published_once_it_is_back(
    new_database: Callable[[], Awaitable[str]],
    make_settings: Callable[..., Settings],
    published: Any,
) -> None:
    proxy = BrokerProxy(free_port())
    settings = make_settings(
        await new_database(),
        amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/?reconnect_interval=0.3",
    )
    async with api(settings) as (client, headers):
        body = {"files": {"main.tex": HELLO}, "compile": True}
        created = await (await client.post("/v1/documents", json=body, headers=headers)).json()
        other = {"files": {"main.tex": HELLO + "% other\n"}}
        second = await (await client.post("/v1/documents", json=other, headers=headers)).json()
        response = await client.post(f"/v1/documents/{second['id']}/compile", headers=headers)
        assert response.status == 202
        jobs = [UUID(created["job_id"]), UUID((await response.json())["job_id"])]
        ready = await client.get("/ready")
        assert ready.status == 503
        assert "rabbitmq" in (await ready.json())["detail"]
        # Accepted and waiting in the outbox while the relay has no broker.
        assert await pending(settings) == 2

        await proxy.start()  # the broker is back
        await published.wait_for(jobs)
        assert (await client.get("/ready")).status == 200

        proxy.drop_connections()  # the broker restarts under an established connection
        third = {"files": {"main.tex": HELLO + "% third\n"}, "compile": True}
        response = await client.post("/v1/documents", json=third, headers=headers)
        assert response.status == 201
        jobs.append(UUID((await response.json())["job_id"]))
        await published.wait_for(jobs)
        await until_drained(settings)  # marked sent right after the confirm, so very soon
        assert [len(published.by_job[j]) for j in jobs] == [1, 1, 1]
    await proxy.stop()


async def test_two_relays_never_publish_a_row_twice(
    new_database: Callable[[], Awaitable[str]],
    make_settings: Callable[..., Settings],
    published: Any,
) -> None:
    # The app's own relay is off; two relays (as in two api processes) drain the outbox while
    # requests keep arriving.
    settings = make_settings(await new_database(), relay_enabled=False)
    dsn = settings.database_url.get_secret_value()
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=2) for _ in range(2)]
    relays = [
        OutboxRelay(
            pool,
            amqp_url=settings.amqp_url.get_secret_value(),
            exchange=settings.topology().exchange,
            batch_size=20,
            sweep_s=0.02,
            retry_s=0.1,
        )
        for pool in pools
    ]
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        async with asyncio.timeout(5):
            while not all(relay.broker_connected for relay in relays):
                await asyncio.sleep(0.02)
        async with api(settings) as (client, headers):

            async def create(n: int) -> str:
                body = {"files": {"main.tex": HELLO + f"% {n}\n"}}
                response = await client.post("/v1/documents", json=body, headers=headers)
                document_id: str = (await response.json())["id"]
                return document_id

            async def submit(document_id: str) -> UUID:
                url = f"/v1/documents/{document_id}/compile"
                return UUID((await (await client.post(url, headers=headers)).json())["job_id"])

            # A document per job: requests for one unchanged revision would share one job,
            # and a new revision's job would wait for its document's previous one.
            jobs = []
            for _ in range(6):
                documents = await asyncio.gather(*(create(n) for n in range(100)))
                jobs += await asyncio.gather(*(submit(d) for d in documents))
        await published.wait_for(jobs, timeout=20)
        # Stopped only once every row is marked published and counted (events, not a pause).
        await until_drained(settings, timeout=20)
        async with asyncio.timeout(20):
            while sum(relay.published for relay in relays) < len(jobs):
                await asyncio.sleep(0.02)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for relay in relays:
            await relay.close()
        for pool in pools:
            await pool.close()
    # The relays are gone: whatever they published is in the queue ahead of a sentinel sent
    # now, so once the sentinel arrives every duplicate would have (no waiting on the clock).
    sentinel = uuid4()
    await publish_to_queue(
        settings.amqp_url.get_secret_value(),
        settings.topology().compile_queue.name,
        json.dumps({"job_id": str(sentinel)}).encode(),
    )
    await published.wait_for([sentinel])
    assert all(len(published.by_job[job]) == 1 for job in jobs)
    assert sum(relay.published for relay in relays) == 600
    assert all(relay.published > 0 for relay in relays), [r.published for r in relays]
    assert await pending(settings) == 0  # the relays were stopped after their commits


async def publish_to_queue(amqp_url: str, queue: str, body: bytes) -> None:
    """One persistent message straight into ``queue`` (through the default exchange)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await channel.default_exchange.publish(message, routing_key=queue)


async def test_a_row_whose_message_cannot_be_built_ends_its_job_dead(
    new_database: Callable[[], Awaitable[str]],
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(await new_database(), relay_enabled=False)
    async with api(settings) as (client, headers):
        body = {"files": {"main.tex": HELLO}, "compile": True}
        created = await (await client.post("/v1/documents", json=body, headers=headers)).json()
    dsn = settings.database_url.get_secret_value()
    conn = await asyncpg.connect(dsn)
    try:
        # A value today's contract refuses, as if stored under an older, laxer one.
        await conn.execute("UPDATE revisions SET main_file = '../escape.tex'")
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    relay = OutboxRelay(
        pool,
        amqp_url=settings.amqp_url.get_secret_value(),
        exchange=settings.topology().exchange,
        batch_size=20,
        sweep_s=0.02,
        retry_s=0.1,
    )
    task = asyncio.create_task(relay.run())
    try:
        await until_drained(settings)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.close()
        await pool.close()
    conn = await asyncpg.connect(dsn)
    try:
        job = await conn.fetchrow(
            "SELECT state, dead_reason FROM jobs WHERE id = $1", UUID(created["job_id"])
        )
    finally:
        await conn.close()
    assert job["state"] == "dead"
    assert "cannot be built" in job["dead_reason"]
    assert "main_file" in job["dead_reason"]
