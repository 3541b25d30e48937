"""SQL of the outbox relay and of retention.

An outbox row is of one ``kind``: ``compile_requested`` rows are built into their message from
the job and revision when published; event rows (``pdf_applied``, ``cancel_requested``) carry
their whole message in ``payload``, written by the transaction that caused them.
"""

from datetime import timedelta
from uuid import UUID

from asyncpg import Record
from texpipe_contracts.jobs import JobState

from texpipe_api.db.conn import Conn
from texpipe_api.db.job_queries import OUTBOX_CHANNEL

_QUEUED = JobState.QUEUED.value

# SKIP LOCKED: rows another relay holds (in its own transaction, while it publishes them) are
# not seen here, so two relays never publish the same row; the lock ends with that transaction.
# The in-flight rule: a row is held (not claimed) while an earlier job of its document is still
# queued, i.e. in flight or about to be, unless that job's message went out more than
# ``hold_max`` ago, or so long ago that retention deleted its row (a lost job must not stop its
# document for good). A held row is claimed
# once that job is final (its result wakes the relays) or superseded by a newer request.
# The settle rule: a row is also held while it is younger than ``settle`` and a request of its
# document was superseded within ``settle`` (the document is in a burst of edits): the burst's
# newest request goes out once the edits pause, not each one that happens to come when the
# compile in flight ends. Never longer than ``settle_max`` after the document's last compile
# request went out: a document edited without pause still gets a compile that often.
_SUPERSEDED = JobState.SUPERSEDED.value


def _settling(settle: str, settle_max: str) -> str:
    """Whether outbox row ``o`` of job ``j`` is held by the settle rule (the parameters named)."""
    return f"""o.created_at > now() - {settle}::interval
  AND EXISTS (
      SELECT 1 FROM jobs s
      WHERE s.document_id = j.document_id AND s.seq < j.seq AND s.state = '{_SUPERSEDED}'
        AND s.finished_at > now() - {settle}::interval)
  AND EXISTS (
      SELECT 1 FROM jobs p JOIN outbox po ON po.job_id = p.id AND po.kind = 'compile_requested'
      WHERE p.document_id = j.document_id AND po.published_at > now() - {settle_max}::interval)"""


_CLAIM = f"""
SELECT o.id, o.message_id, o.created_at, j.id AS job_id, j.document_id, j.revision, j.engine,
       j.timeout_ms, r.main_file, r.source_key, r.source_sha256, r.source_size,
       r.created_at AS revision_created_at
FROM outbox o
JOIN jobs j ON j.id = o.job_id
JOIN revisions r ON r.document_id = j.document_id AND r.revision = j.revision
WHERE o.published_at IS NULL AND o.kind = 'compile_requested'
  AND NOT EXISTS (
      SELECT 1 FROM jobs e JOIN outbox eo ON eo.job_id = e.id AND eo.kind = 'compile_requested'
      WHERE e.document_id = j.document_id AND e.seq < j.seq AND e.state = '{_QUEUED}'
        AND (eo.published_at IS NULL OR eo.published_at > now() - $2::interval))
  AND NOT ({_settling("$3", "$4")})
ORDER BY o.id
LIMIT $1
FOR UPDATE OF o SKIP LOCKED
"""
_CLAIM_EVENTS = """
SELECT id, kind, payload FROM outbox
WHERE published_at IS NULL AND kind <> 'compile_requested'
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""


async def claim_pending(
    conn: Conn, limit: int, *, hold_max: timedelta, settle: timedelta, settle_max: timedelta
) -> list[Record]:
    """Lock up to ``limit`` unpublished compile requests that are not held (with what their messages
    need), oldest first."""
    return await conn.fetch(_CLAIM, limit, hold_max, settle, settle_max)


_SETTLED_IN = f"""
SELECT EXTRACT(EPOCH FROM min(o.created_at) + $1::interval - now())::float8
FROM outbox o JOIN jobs j ON j.id = o.job_id
WHERE o.published_at IS NULL AND o.kind = 'compile_requested'
  AND {_settling("$1", "$2")}
"""


async def seconds_until_settled(
    conn: Conn, *, settle: timedelta, settle_max: timedelta
) -> float | None:
    """Seconds until the oldest request the settle rule holds is past it (None: it holds
    none): when a relay looks again."""
    value: float | None = await conn.fetchval(_SETTLED_IN, settle, settle_max)
    return value


async def claim_pending_events(conn: Conn, limit: int) -> list[Record]:
    """Lock up to ``limit`` unpublished event rows (id, kind, payload), oldest first."""
    return await conn.fetch(_CLAIM_EVENTS, limit)


async def insert_event(
    conn: Conn, *, job_id: UUID, message_id: UUID, kind: str, payload: str
) -> None:
    """An event row (``payload``: the message's JSON), and the relays' wake-up."""
    await conn.execute(
        "WITH row AS (INSERT INTO outbox (job_id, message_id, kind, payload)"
        " VALUES ($1, $2, $3, $4::jsonb) RETURNING id)"
        f" SELECT pg_notify('{OUTBOX_CHANNEL}', '') FROM row",
        job_id,
        message_id,
        kind,
        payload,
    )


async def withdraw_compile_request(conn: Conn, job_id: UUID) -> bool:
    """Delete the job's compile request if it was not published yet (a relay publishing it
    right now holds its row: this waits for that relay, then finds it published)."""
    status: str = await conn.execute(
        "DELETE FROM outbox WHERE job_id = $1 AND kind = 'compile_requested'"
        " AND published_at IS NULL",
        job_id,
    )
    return status != "DELETE 0"


async def mark_published(conn: Conn, ids: list[int]) -> None:
    """The broker confirmed these rows' messages."""
    # clock_timestamp(), not now(): now() is when the claiming transaction began, before the
    # publish; the enqueue ping reports this time as its "published" stage.
    await conn.execute(
        "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])", ids
    )


async def pending_count(conn: Conn) -> int:
    """How many rows wait to be published (a gauge for operators)."""
    value: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return value


# A job is pruned when it is finished, older than the retention, not its document's latest
# (a newer job of the same document exists) and not the one whose PDF the document shows (its
# SyncTeX file and output files stay reachable). Batches keep each transaction short.
_PRUNE_JOBS = f"""
WITH doomed AS (
    SELECT j.id FROM jobs j
    WHERE j.finished_at < now() - $1::interval
      AND j.state <> '{_QUEUED}'
      AND EXISTS (SELECT 1 FROM jobs n WHERE n.document_id = j.document_id AND n.seq > j.seq)
      AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = j.document_id AND d.pdf_job_id = j.id)
    ORDER BY j.finished_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)
"""


async def prune_jobs(conn: Conn, *, older_than: timedelta, limit: int) -> int:
    """Delete up to ``limit`` prunable jobs (their outbox rows go with them); returns how many."""
    status: str = await conn.execute(_PRUNE_JOBS, older_than, limit)
    return int(status.split()[-1])


async def prune_published(conn: Conn, *, older_than: timedelta, limit: int) -> int:
    """Delete up to ``limit`` outbox rows published before ``older_than`` ago."""
    status: str = await conn.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
        " WHERE published_at < now() - $1::interval ORDER BY published_at LIMIT $2)",
        older_than,
        limit,
    )
    return int(status.split()[-1])
