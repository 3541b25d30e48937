"""The composition root: ``create_app(settings)`` builds the aiohttp application.

Each resource has one cleanup context, registered in dependency order (pool, S3, the services
built on them, the outbox relay, the NOTIFY listener, retention); aiohttp runs the cleanups in
reverse. Tests build the app with the same function.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import asyncpg
from aiohttp import web
from texpipe_servicekit.ops import add_ops_routes
from texpipe_servicekit.s3 import open_s3_store

from texpipe_api import keys
from texpipe_api.auth import TenantResolver
from texpipe_api.batching import CompileBatcher
from texpipe_api.config import Settings
from texpipe_api.document_events import StreamSlots
from texpipe_api.documents import DocumentDeps
from texpipe_api.jobs import JobPolicy
from texpipe_api.middlewares import errors_middleware, observe_middleware
from texpipe_api.notify import NotificationListener
from texpipe_api.outbox import OutboxRelay
from texpipe_api.retention import prune_forever
from texpipe_api.routes import setup_routes
from texpipe_api.sources import SourceLimits
from texpipe_api.synctex import SynctexDeps
from texpipe_api.synctex_runner import SynctexLimits, SynctexRunner
from texpipe_api.waiters import JobWaiters


async def _pg_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        command_timeout=30,
    )
    app[keys.PG_POOL] = pool
    yield
    await pool.close()


async def _s3_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_s3_store(app[keys.SETTINGS]) as store:
        app[keys.S3] = store
        yield


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, pool = app[keys.SETTINGS], app[keys.PG_POOL]
    app[keys.TENANTS] = TenantResolver(pool, cache_s=settings.token_cache_s)
    app[keys.DOCUMENT_DEPS] = DocumentDeps(
        pool=pool,
        s3=app[keys.S3],
        limits=SourceLimits(
            max_files=settings.max_files, max_total_bytes=settings.max_source_bytes
        ),
        jobs=app[keys.JOB_POLICY],
    )
    batcher = CompileBatcher(pool, timeout_ms=settings.compile_timeout_ms)
    app[keys.BATCHER] = batcher
    app[keys.SYNCTEX_DEPS] = SynctexDeps(
        pool=pool,
        s3=app[keys.S3],
        runner=SynctexRunner(
            SynctexLimits(
                timeout_s=settings.synctex_timeout_s,
                memory_bytes=settings.synctex_memory_bytes,
                concurrency=settings.synctex_concurrency,
            ),
            bwrap=settings.synctex_bwrap,
            synctex=(settings.synctex_command,),
        ),
        max_bytes=settings.synctex_max_bytes,
    )
    yield
    await batcher.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _relay_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    relay = OutboxRelay(
        app[keys.PG_POOL],
        amqp_url=settings.amqp_url.get_secret_value(),
        exchange=settings.topology().exchange,
        batch_size=settings.relay_batch_size,
        sweep_s=settings.relay_sweep_s,
        retry_s=settings.relay_retry_s,
        linger_s=settings.relay_linger_s,
        workers=settings.relay_workers,
        hold_max_s=settings.relay_hold_max_s,
        settle_s=settings.relay_settle_s,
        settle_max_s=settings.relay_settle_max_s,
    )
    app[keys.RELAY] = relay
    task = asyncio.create_task(relay.run(), name="outbox-relay") if settings.relay_enabled else None
    yield
    if task is not None:
        await _cancel(task)
    await relay.close()


async def _listener_ctx(app: web.Application) -> AsyncIterator[None]:
    listener = NotificationListener(
        app[keys.SETTINGS].database_url.get_secret_value(),
        waiters=app[keys.WAITERS],
        document_waiters=app[keys.DOCUMENT_WAITERS],
        on_outbox=app[keys.RELAY].wake,
    )
    app[keys.LISTENER] = listener
    task = asyncio.create_task(listener.run(), name="notify-listener")
    yield
    await _cancel(task)


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    task = asyncio.create_task(
        prune_forever(
            app[keys.PG_POOL],
            retention=timedelta(days=settings.job_retention_days),
            interval_s=settings.prune_interval_s,
        ),
        name="retention",
    )
    yield
    await _cancel(task)


async def _release_long_polls(app: web.Application) -> None:
    # Runs before aiohttp waits for in-flight handlers: long-polls answer now, event
    # streams end (their clients reconnect, with Last-Event-ID, to another api process).
    app[keys.WAITERS].close()
    app[keys.DOCUMENT_WAITERS].close()


def _ready_checks(app: web.Application) -> dict[str, Callable[[], Awaitable[object]]]:
    async def postgresql() -> object:
        async with app[keys.PG_POOL].acquire(timeout=2) as conn:
            return await conn.fetchval("SELECT 1")

    async def rabbitmq() -> object:
        return await app[keys.RELAY].ping()

    async def s3() -> object:
        await app[keys.S3].ping()
        return None

    return {"postgresql": postgresql, "rabbitmq": rabbitmq, "s3": s3}


def create_app(settings: Settings) -> web.Application:
    """The api as an aiohttp application (serve it with ``web.run_app`` or a TestServer)."""
    app = web.Application(
        middlewares=[observe_middleware, errors_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    app[keys.WAITERS] = JobWaiters()
    app[keys.DOCUMENT_WAITERS] = JobWaiters()
    app[keys.STREAM_SLOTS] = StreamSlots(settings.max_event_streams_per_tenant)
    app[keys.JOB_POLICY] = JobPolicy(timeout_ms=settings.compile_timeout_ms)
    for ctx in (_pg_pool_ctx, _s3_ctx, _services_ctx, _relay_ctx, _listener_ctx, _retention_ctx):
        app.cleanup_ctx.append(ctx)
    app.on_shutdown.append(_release_long_polls)
    add_ops_routes(app, _ready_checks(app))
    setup_routes(app)
    return app
