"""Retention: finished jobs older than the retention are pruned, never a document's latest;
document events older than the retention too (a stream resumes losslessly within it)."""

import asyncio
from datetime import timedelta

import asyncpg
import structlog

from texpipe_api import metrics
from texpipe_api.db import event_queries, outbox_queries

log = structlog.get_logger(__name__)

BATCH = 1000
# Published outbox rows are only history; a day is plenty to investigate a delivery.
PUBLISHED_OUTBOX_KEPT = timedelta(days=1)


async def prune_once(pool: asyncpg.Pool, retention: timedelta) -> int:
    """Delete every prunable job (batch by batch); returns how many."""
    total = 0
    while True:
        async with pool.acquire() as conn:
            deleted = await outbox_queries.prune_jobs(conn, older_than=retention, limit=BATCH)
        total += deleted
        if deleted < BATCH:
            break
    while True:
        async with pool.acquire() as conn:
            rows = await outbox_queries.prune_published(
                conn, older_than=PUBLISHED_OUTBOX_KEPT, limit=BATCH
            )
        if rows < BATCH:
            break
    while True:
        async with pool.acquire() as conn:
            rows = await event_queries.prune_events(conn, older_than=retention, limit=BATCH)
        if rows < BATCH:
            break
    metrics.JOBS_PRUNED.inc(total)
    return total


async def prune_forever(pool: asyncpg.Pool, *, retention: timedelta, interval_s: float) -> None:
    """Prune now and then every ``interval_s`` (several api processes may do it at once)."""
    while True:
        try:
            pruned = await prune_once(pool, retention)
            if pruned:
                log.info("jobs_pruned", count=pruned, retention_days=retention.days)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("prune_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        await asyncio.sleep(interval_s)
