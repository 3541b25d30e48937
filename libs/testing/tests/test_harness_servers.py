"""The harness gives each session real, isolated servers; the topology works on the real broker."""

import asyncio
import hashlib
import json
import socket
from pathlib import Path
from uuid import uuid4

import aio_pika
import asyncpg
import pytest
from faststream.rabbit import RabbitBroker
from texpipe_contracts.topology import (
    COMPILE_DELIVERY_LIMIT,
    COMPILE_REQUESTED_V1,
    HEADER_ATTEMPT,
    HEADER_REASON,
    Topology,
)
from texpipe_servicekit.rabbit import dead_letter, rabbit_exchange
from texpipe_servicekit.s3 import open_s3_store
from texpipe_servicekit.settings import S3Settings
from texpipe_testing import seaweed, servers
from texpipe_testing.seaweed import S3Server


async def get_one(
    channel: aio_pika.abc.AbstractChannel, queue: str, timeout: float = 10.0
) -> aio_pika.abc.AbstractIncomingMessage:
    """Poll ``queue`` until a message arrives."""
    q = await channel.get_queue(queue, ensure=False)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await q.get(no_ack=False, fail=False)
        if message is not None:
            return message
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"nothing arrived in {queue} within {timeout} s")
        await asyncio.sleep(0.05)


async def test_postgres_round_trip_in_its_own_database(postgres_dsn: str) -> None:
    connection = await asyncpg.connect(postgres_dsn)
    try:
        assert (await connection.fetchval("SELECT current_database()")).startswith("texpipe_test_")
        await connection.execute("CREATE TABLE harness (id int PRIMARY KEY, note text)")
        await connection.execute("INSERT INTO harness VALUES (1, 'round trip')")
        assert await connection.fetchval("SELECT note FROM harness WHERE id = 1") == "round trip"
    finally:
        await connection.close()


async def test_s3_put_get_head_on_the_sessions_bucket(s3: S3Server) -> None:
    settings = S3Settings(
        s3_endpoint_url=s3.endpoint_url,
        s3_bucket=s3.bucket,
        s3_access_key=s3.access_key,  # type: ignore[arg-type]
        s3_secret_key=s3.secret_key,  # type: ignore[arg-type]
    )
    data = b"%PDF-1.5 harness"
    digest = hashlib.sha256(data).hexdigest()
    async with open_s3_store(settings) as store:
        await store.ping()
        assert await store.head("harness/missing") is None
        await store.put("harness/a.pdf", data, content_type="application/pdf", sha256=digest)
        info = await store.head("harness/a.pdf")
        assert info is not None
        assert (info.size, info.sha256) == (len(data), digest)
        assert await store.get("harness/a.pdf") == data
        async with store.stream("harness/a.pdf", chunk_size=4) as (size, chunks):
            assert size == len(data)
            assert b"".join([chunk async for chunk in chunks]) == data
        url = await store.presigned_get("harness/a.pdf", expires_s=60)
        assert url.startswith(s3.endpoint_url)


async def test_s3_refuses_wrong_credentials(s3: S3Server) -> None:
    settings = S3Settings(
        s3_endpoint_url=s3.endpoint_url,
        s3_bucket=s3.bucket,
        s3_access_key="nobody",  # type: ignore[arg-type]
        s3_secret_key="wrong",  # type: ignore[arg-type]
    )
    async with open_s3_store(settings) as store:
        with pytest.raises(Exception, match=r"(?i)denied|forbidden|403|invalid"):
            await store.put("harness/x", b"x", content_type="text/plain")


async def test_publish_and_consume_through_the_compile_queue_with_confirms(
    amqp_url: str, declared_topology: Topology
) -> None:
    body = json.dumps({"probe": str(uuid4())}).encode()
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.connect()
        confirmation = await broker.publish(
            body,
            exchange=rabbit_exchange(declared_topology.exchange),
            routing_key=COMPILE_REQUESTED_V1,
            persist=True,
        )
    assert confirmation is not None
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        message = await get_one(channel, declared_topology.compile_queue.name)
        assert message.body == body
        await message.ack()


async def test_a_message_rejected_past_the_delivery_limit_is_dead_lettered(
    amqp_url: str, declared_topology: Topology
) -> None:
    probe = str(uuid4()).encode()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(declared_topology.exchange.name)
        await exchange.publish(aio_pika.Message(probe), routing_key=COMPILE_REQUESTED_V1)
        for _ in range(COMPILE_DELIVERY_LIMIT + 1):
            message = await get_one(channel, declared_topology.compile_queue.name)
            assert message.body == probe
            await message.reject(requeue=True)
        dead = await get_one(channel, declared_topology.compile_dlq.name)
        assert dead.body == probe
        deaths = dead.headers["x-death"]
        assert isinstance(deaths, list)
        assert deaths[0]["reason"] == "delivery_limit"  # type: ignore[index]
        assert deaths[0]["queue"] == declared_topology.compile_queue.name  # type: ignore[index]
        await dead.ack()
        # The same dead letter also reaches the queue the applier watches to mark jobs dead.
        notice = await get_one(channel, declared_topology.dead_jobs_queue.name)
        assert notice.body == probe
        await notice.ack()


async def test_a_service_dead_letter_carries_its_reason(
    amqp_url: str, declared_topology: Topology
) -> None:
    async with RabbitBroker(amqp_url, logger=None) as broker:
        await broker.connect()
        await dead_letter(
            broker,
            declared_topology,
            body=b"{not json",
            headers={},
            source_queue=declared_topology.apply_queue,
            reason="body is not JSON",
            code="MALFORMED",
            attempts=0,
        )
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        dead = await get_one(channel, declared_topology.apply_dlq.name)
        assert dead.headers[HEADER_REASON] == "body is not JSON"
        assert dead.headers[HEADER_ATTEMPT] == 0
        await dead.ack()
        await (await get_one(channel, declared_topology.dead_jobs_queue.name)).ack()


async def test_a_retry_queue_returns_an_expired_message_to_the_apply_queue(
    amqp_url: str, declared_topology: Topology
) -> None:
    probe = str(uuid4()).encode()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        started = asyncio.get_running_loop().time()
        await channel.default_exchange.publish(
            aio_pika.Message(probe, expiration=0.3, headers={HEADER_ATTEMPT: 1}),
            routing_key=declared_topology.retry_queue(1).name,
        )
        back = await get_one(channel, declared_topology.apply_queue.name)
        waited = asyncio.get_running_loop().time() - started
        assert back.body == probe
        assert back.headers[HEADER_ATTEMPT] == 1
        assert waited >= 0.25
        await back.ack()


def test_seaweedfs_starts_again_on_fresh_ports_when_one_was_taken_meanwhile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The first port handed out is in use by the time weed binds it (another connection took
    # it): weed exits, and the harness starts it again on fresh ports.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        handed: list[int] = []

        def port() -> int:
            handed.append(taken.getsockname()[1] if not handed else servers.free_port())
            return handed[-1]

        monkeypatch.setattr(seaweed, "free_port", port)
        process, server = seaweed.start_weed(tmp_path, bucket="retried")
        try:
            assert server.endpoint_url.startswith("http://127.0.0.1:")
            log = (tmp_path / "weed.out").read_text(errors="replace")
            assert any(sign in log for sign in seaweed.PORT_TAKEN_SIGNS)
        finally:
            seaweed.stop_weed(process)
