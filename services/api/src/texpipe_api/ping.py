"""The enqueue ping: a tiny built-in document through the whole pipeline, stage by stage.

api (job + outbox row) -> relay -> RabbitMQ -> compiler -> S3 -> applier -> api (applied).
Each ping is a new revision of a document of the system tenant ``texpipe-ping`` (no tokens, so
no customer sees it), with a nonce comment so the compiler's cache cannot answer for it: the
compile is real every time. Pings share one document while they come one at a time
(``ping_rules.choose_document``), and only the latest revisions are kept.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg
import structlog
from texpipe_contracts.bundle import Bundle
from texpipe_contracts.jobs import JobState, is_final
from texpipe_contracts.v1 import Engine

from texpipe_api import metrics
from texpipe_api.auth import PING_TENANT
from texpipe_api.db import ping_queries, queries
from texpipe_api.documents import DocumentDeps, record_revision, store_sources
from texpipe_api.errors import PingFailedError, PingTimeoutError
from texpipe_api.jobs import enqueue_compile
from texpipe_api.ping_rules import (
    DbClock,
    PingDocument,
    PingTimes,
    choose_document,
    ping_result,
)
from texpipe_api.schemas import MAX_PING_TIMEOUT_S, EngineSource, PingAnswer, PingStages
from texpipe_api.sources import CheckedSources
from texpipe_api.waiters import JobWaiters

log = structlog.get_logger(__name__)

MAIN_FILE = "main.tex"
SOURCE = "\\documentclass{minimal}\n\\begin{document}\ntexpipe ping\n\\end{document}\n"
MAX_DOCUMENTS = 4
KEEP_REVISIONS = 10
# A queued ping job younger than this may still have its ping waiting (the longest a ping
# waits, with a margin for a slow accepting transaction).
BUSY_FOR = timedelta(seconds=MAX_PING_TIMEOUT_S + 10)
# Until its row is published the job is polled (the relay tells no one); then the result's
# NOTIFY wakes the ping, with a slow poll in case a notification was lost.
FIRST_POLL_S, MAX_POLL_S, RESULT_POLL_S = 0.005, 0.2, 1.0
# How long a final job waits for its outbox row's mark (see _follow).
PUBLISHED_GRACE_S = 1.0


def ping_sources(nonce: str) -> CheckedSources:
    """The ping's document; the nonce changes its sha256, hence the compiler's cache key."""
    text = f"% texpipe ping {nonce}\n{SOURCE}"
    return CheckedSources(
        files={MAIN_FILE: text.encode("utf-8")},
        main_file=MAIN_FILE,
        engine=Engine.PDFLATEX,
        engine_source=EngineSource.REQUEST,
    )


@dataclass(frozen=True, slots=True)
class _Accepted:
    job_id: UUID
    outbox_id: int
    clock: DbClock


class _Stopwatch:
    """Milliseconds since the request arrived, on the event loop's monotonic clock."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.started = self._loop.time()

    def ms(self) -> int:
        return round((self._loop.time() - self.started) * 1000)

    def left_s(self, deadline_s: float) -> float:
        return self.started + deadline_s - self._loop.time()


async def _accept(
    deps: DocumentDeps, checked: CheckedSources, bundle: Bundle, watch: _Stopwatch
) -> _Accepted:
    """A new revision of a ping document and its compile job, in one transaction."""
    async with deps.pool.acquire() as conn, conn.transaction():
        # The upsert creates the tenant on first use and locks its row until the commit, so
        # pings from every api process choose their document one at a time.
        tenant_id = await queries.upsert_tenant(conn, tenant_id=uuid4(), name=PING_TENANT)
        rows = await ping_queries.ping_documents(conn, tenant_id, busy_for=BUSY_FOR)
        documents = [PingDocument(r["id"], r["busy"], r["last_seq"]) for r in rows]
        document_id = choose_document(documents, MAX_DOCUMENTS)
        if document_id is None:
            document_id, revision = uuid4(), 1
            await queries.insert_document(conn, document_id=document_id, tenant_id=tenant_id)
        else:
            revision = await queries.bump_revision(conn, document_id)
        await record_revision(conn, document_id, revision, checked, bundle)
        job = await enqueue_compile(conn, deps.jobs, document_id, tenant_id)
        if revision > KEEP_REVISIONS:
            await ping_queries.prune_revisions(conn, document_id, up_to=revision - KEEP_REVISIONS)
        anchor = await ping_queries.db_clock(conn)
        anchor_ms = watch.ms()
    return _Accepted(job["id"], job["outbox_id"], DbClock(anchor, anchor_ms))


async def _follow(
    pool: asyncpg.Pool,
    waiters: JobWaiters,
    accepted: _Accepted,
    times: PingTimes,
    left_s: Callable[[], float],
) -> asyncpg.Record | None:
    """The job's last read: final, or as it was when the deadline passed."""
    poll_s, grace_s = FIRST_POLL_S, PUBLISHED_GRACE_S
    with waiters.watch(accepted.job_id) as changed:
        while True:
            async with pool.acquire() as conn:
                row = await ping_queries.ping_progress(conn, accepted.job_id, accepted.outbox_id)
            if row is None:  # nothing deletes a queued job; a final one only 10 pings later
                return None
            times.see(
                accepted.clock,
                published_at=row["published_at"],
                state=row["state"],
                finished_at=row["finished_at"],
                duration_ms=row["duration_ms"],
            )
            remaining = left_s()
            if remaining <= 0 or waiters.closing:
                return row
            if is_final(row["state"]):
                # The consumer can get the message before the relay's transaction that marks
                # the row commits: give that commit a moment, so "published" has its time.
                if row["published_at"] is not None or grace_s <= 0:
                    return row
                grace_s -= poll_s
            limit = poll_s if row["published_at"] is None else RESULT_POLL_S
            poll_s = min(poll_s * 2, MAX_POLL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, limit))
            changed.clear()


def _error(row: asyncpg.Record | None) -> dict[str, str | None]:
    if row is None:
        return {"code": None, "message": "the job was deleted while the ping waited"}
    if row["state"] == JobState.DEAD:
        return {"code": None, "message": row["dead_reason"]}
    return {"code": row["error_code"], "message": row["error_message"]}


_HINTS = {
    "published": "the outbox relay did not publish the job (is RabbitMQ reachable? see /ready)",
    "applied": "published, but no result came back: look at the compiler, S3 and the applier",
}


async def run_ping(deps: DocumentDeps, waiters: JobWaiters, timeout_s: float) -> PingAnswer:
    """Send the ping document through the pipeline and time each stage (502/504 otherwise)."""
    watch = _Stopwatch()
    checked = ping_sources(uuid4().hex)
    bundle = await store_sources(deps.s3, checked)
    accepted = await _accept(deps, checked, bundle, watch)
    times = PingTimes(accepted_ms=watch.ms())
    job_id = str(accepted.job_id)
    with structlog.contextvars.bound_contextvars(job_id=job_id):
        row = await _follow(deps.pool, waiters, accepted, times, lambda: watch.left_s(timeout_s))
        total_ms = watch.ms()
        state = "deleted" if row is None else str(row["state"])
        result = ping_result(None if row is None else state)
        metrics.PING_SECONDS.labels(result).observe(total_ms / 1000)
        log.info("ping_answered", result=result, state=state, total_ms=total_ms, **times.reached())
    if result == "failed":
        raise PingFailedError(
            f"the ping's job ended {state!r}, not 'applied'",
            job_id=job_id,
            state=state,
            error=_error(row),
            stages=times.reached(),
        )
    if result == "timeout":
        stage = times.first_missing()
        why = "the api is shutting down" if waiters.closing else _HINTS.get(stage, "")
        raise PingTimeoutError(
            f"no {stage!r} within {timeout_s:g} s: {why}",
            job_id=job_id,
            stage=stage,
            timeout_s=timeout_s,
            stages=times.reached(),
        )
    return PingAnswer(
        job_id=accepted.job_id,
        stages=PingStages.model_validate(times.reached()),
        total_ms=total_ms,
    )
