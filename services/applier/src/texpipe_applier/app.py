"""Composition root: the broker, the api client, the subscribers and the ops server."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import structlog
from faststream import ContextRepo, FastStream
from faststream.specification import AsyncAPI
from texpipe_servicekit.gate import GATE, DependencyGate, release_gate
from texpipe_servicekit.ops import OpsServer
from texpipe_servicekit.rabbit import broker_check, new_broker, prepare_topology

from texpipe_applier import deps
from texpipe_applier.api_client import ApiClient
from texpipe_applier.config import Settings
from texpipe_applier.dead_jobs import DeadJobReporter
from texpipe_applier.delivery import API, ResultDelivery
from texpipe_applier.handlers import build_router
from texpipe_applier.redelivery import BROKER, RabbitRedelivery

API_KEEPALIVE_S = 30.0
"""Below the api's 65 s keep-alive (DESIGN.md), so the api never closes a socket we reuse."""

log = structlog.get_logger(__name__)


def create_app(settings: Settings) -> FastStream:
    """The applier: one broker, one HTTP session, two subscribers, an ops server."""
    topo = settings.topology()
    broker = new_broker(
        settings.amqp_url.get_secret_value(),
        service="texpipe_applier",
        graceful_timeout=settings.shutdown_grace_s,
        reconnect_s=settings.amqp_reconnect_s,
    )
    faststream_logger = logging.getLogger("texpipe_applier.faststream")
    broker.include_router(build_router(topo, settings.apply_prefetch))
    redelivery = RabbitRedelivery(broker, topo)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        # Runs before the broker starts consuming and after it stopped: the session outlives
        # every handler, and the topology exists before any subscriber declares its queue.
        timeout = aiohttp.ClientTimeout(
            total=settings.api_total_timeout_s, connect=settings.api_connect_timeout_s
        )
        connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=API_KEEPALIVE_S)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, raise_for_status=False
        ) as session:
            api = ApiClient(
                session,
                settings.api_url,
                settings.service_token.get_secret_value(),
                settings.api_total_timeout_s,
            )
            gate = DependencyGate(
                {API: api.ready, BROKER: broker_check(broker)},
                base_s=settings.probe_base_s,
                cap_s=settings.probe_cap_s,
            )
            context.set_global(GATE, gate)
            context.set_global(
                deps.DELIVERY, ResultDelivery(api, redelivery, settings.retry_policy())
            )
            context.set_global(deps.REPORTER, DeadJobReporter(api, topo))
            context.set_global(deps.SETTLER, deps.Settler(broker, gate))
            await prepare_topology(
                settings.amqp_url.get_secret_value(), topo, service="texpipe-applier"
            )
            await broker.connect()
            ops = OpsServer(
                settings.ops_host,
                settings.ops_port,
                {"broker": broker_check(broker), "api": api.health, "consuming": gate.check},
            )
            await ops.start()
            log.info("applier_started", namespace=topo.namespace, api_url=settings.api_url)
            try:
                yield
            finally:
                await gate.close()
                await ops.stop()
                log.info("applier_stopped")

    return FastStream(
        broker,
        lifespan=lifespan,
        on_shutdown=[release_gate],
        logger=faststream_logger,
        specification=AsyncAPI(title="texpipe-applier", version="1.0.0"),
    )
