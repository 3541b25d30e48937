"""Several broker addresses: a service connects to any live one and moves when its goes away.

Two TCP proxies in front of the session's broker stand for two nodes of a cluster (the
three-node cluster itself is exercised by tests/e2e/test_e2e_cluster.py). This also pins
:class:`~texpipe_servicekit.rabbit.FailoverConnection`'s hook into the locked aio-pika.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import aiormq
import pytest
from faststream.rabbit import RabbitBroker, RabbitQueue
from texpipe_servicekit.rabbit import connected_node, new_broker, publish_confirmed
from texpipe_servicekit.settings import AmqpSettings, broker_addresses
from texpipe_testing.proxy import TcpProxy


def via(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))


@asynccontextmanager
async def two_nodes(amqp_url: str) -> AsyncIterator[tuple[TcpProxy, TcpProxy]]:
    parts = urlsplit(amqp_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    async with TcpProxy(host, port) as a, TcpProxy(host, port) as b:
        yield a, b


async def until_node(broker: RabbitBroker, wanted: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while await connected_node(broker) != wanted:
            await asyncio.sleep(0.05)


def test_addresses_are_a_comma_separated_list() -> None:
    urls = "amqp://u:p@10.0.0.1:5672/, amqp://u:p@10.0.0.2:5672/,"
    assert broker_addresses(urls) == ["amqp://u:p@10.0.0.1:5672/", "amqp://u:p@10.0.0.2:5672/"]
    with pytest.raises(ValueError, match=r"10\.0\.0\.3"):
        broker_addresses("amqp://u:p@10.0.0.1/,http://u:p@10.0.0.3/")
    with pytest.raises(ValueError, match="no broker address"):
        AmqpSettings.model_validate({"amqp_url": " , "})


async def test_a_consumer_moves_to_another_address_when_its_node_goes_away(
    amqp_url: str, namespace: str
) -> None:
    queue = RabbitQueue(f"{namespace}.failover-{secrets.token_hex(3)}", auto_delete=True)
    got: asyncio.Queue[bytes] = asyncio.Queue()
    async with two_nodes(amqp_url) as (a, b):
        broker = new_broker(
            f"{via(amqp_url, a)},{via(amqp_url, b)}",
            service="failover-test",
            graceful_timeout=1,
            reconnect_s=0.2,
        )

        @broker.subscriber(queue)
        async def handle(body: bytes) -> None:
            await got.put(body)

        async with broker:
            await broker.start()
            first = await connected_node(broker)
            assert first in {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
            dead, alive = (a, b) if first == f"127.0.0.1:{a.port}" else (b, a)
            dead.cut()  # the node dies: its connections break and it refuses new ones
            await until_node(broker, f"127.0.0.1:{alive.port}")
            # The subscriber was restored on the other node and publishing is confirmed there.
            # The connection is back before its channels are: until they are, a publish fails
            # as it does in an outage (a service's gate waits it out; here, try again).
            async with asyncio.timeout(30):
                while True:
                    try:
                        await publish_confirmed(
                            broker, b"after the move", queue=queue.name, content_type="text/plain"
                        )
                        break
                    except (aiormq.exceptions.AMQPError, RuntimeError):
                        await asyncio.sleep(0.1)
                assert await got.get() == b"after the move"


async def test_the_first_connect_skips_a_dead_address(amqp_url: str) -> None:
    async with two_nodes(amqp_url) as (a, b):
        a.cut()
        for _ in range(3):  # the first address tried is random
            broker = new_broker(
                f"{via(amqp_url, a)},{via(amqp_url, b)}",
                service="failover-test",
                graceful_timeout=1,
            )
            async with broker:
                await broker.connect()
                assert await connected_node(broker) == f"127.0.0.1:{b.port}"
