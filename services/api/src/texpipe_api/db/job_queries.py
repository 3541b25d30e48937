"""Every SQL statement on compile jobs: enqueue (with the outbox row), read, and the
stale-checked apply of results. The caller owns the transaction."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from asyncpg import Record
from texpipe_contracts.v1 import CompileCompleted

from texpipe_api.db.conn import Conn

JOB_FINAL_CHANNEL = "texpipe_job_final"
"""NOTIFY channel, payload a job id: the job reached a final state (long-polls wake up)."""
OUTBOX_CHANNEL = "texpipe_outbox"
"""NOTIFY channel: an outbox row was written (relays wake up)."""


# --- jobs -----------------------------------------------------------------------------------

# One statement, one round trip: the job, its outbox row and the relay's wake-up. Nothing is
# inserted when the document is not the tenant's, or when the idempotency key was used before.
_INSERT_JOB = f"""
WITH doc AS (
    SELECT d.id, d.current_revision, r.engine, r.engine_source FROM documents d
    JOIN revisions r ON r.document_id = d.id AND r.revision = d.current_revision
    WHERE d.id = $3 AND d.tenant_id = $4
), job AS (
    INSERT INTO jobs (id, tenant_id, document_id, revision, engine, engine_source, timeout_ms,
                      idempotency_key)
    SELECT $1, $4, doc.id, doc.current_revision, doc.engine, doc.engine_source, $5, $6 FROM doc
    ON CONFLICT (document_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *
), queued AS (
    INSERT INTO outbox (job_id, message_id) SELECT id, $2 FROM job RETURNING job_id, id
)
SELECT job.*, queued.id AS outbox_id, pg_notify('{OUTBOX_CHANNEL}', '') AS notified
FROM job JOIN queued ON queued.job_id = job.id
"""


async def insert_job_with_outbox(
    conn: Conn,
    *,
    job_id: UUID,
    message_id: UUID,
    document_id: UUID,
    tenant_id: UUID,
    timeout_ms: int,
    idempotency_key: str | None,
) -> Record | None:
    """A queued job for the document's current revision, plus its outbox row (the job's
    columns and ``outbox_id``)."""
    return await conn.fetchrow(
        _INSERT_JOB, job_id, message_id, document_id, tenant_id, timeout_ms, idempotency_key
    )


# The same for many requests at once (``batching.py``): one statement, one commit for all.
# A request for a revision that already has its PDF applied, or whose latest job is still
# queued for that revision, gets that job back instead of a new one: the same source gives the
# same PDF, so compiling it again would only end ``stale`` and cost a compile.
_INSERT_JOBS = f"""
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[])
        AS r (job_id, message_id, document_id, tenant_id)
), doc AS (
    SELECT req.job_id, req.message_id, req.tenant_id, d.id AS document_id, d.current_revision,
           r.engine, r.engine_source,
           CASE WHEN d.pdf_revision = d.current_revision THEN d.pdf_job_id
                ELSE (SELECT l.id FROM (
                          SELECT j.id, j.revision, j.state FROM jobs j
                          WHERE j.document_id = d.id ORDER BY j.seq DESC LIMIT 1) l
                      WHERE l.revision = d.current_revision AND l.state = 'queued')
           END AS reuse_id
    FROM req
    JOIN documents d ON d.id = req.document_id AND d.tenant_id = req.tenant_id
    JOIN revisions r ON r.document_id = d.id AND r.revision = d.current_revision
), job AS (
    INSERT INTO jobs (id, tenant_id, document_id, revision, engine, engine_source, timeout_ms)
    SELECT job_id, tenant_id, document_id, current_revision, engine, engine_source, $5 FROM doc
    WHERE reuse_id IS NULL
    RETURNING id, state
), queued AS (
    INSERT INTO outbox (job_id, message_id)
    SELECT job.id, doc.message_id FROM job JOIN doc ON doc.job_id = job.id
    RETURNING job_id
)
-- Only what the 202 needs: decoding whole job rows would cost more than the insert.
SELECT job.id AS request_id, job.id, job.state, pg_notify('{OUTBOX_CHANNEL}', '') IS NULL
    AS notified
FROM job JOIN queued ON queued.job_id = job.id
UNION ALL
SELECT doc.job_id AS request_id, j.id, j.state, NULL AS notified
FROM doc JOIN jobs j ON j.id = doc.reuse_id
"""


async def insert_jobs_with_outbox(
    conn: Conn,
    *,
    job_ids: list[UUID],
    message_ids: list[UUID],
    document_ids: list[UUID],
    tenant_ids: list[UUID],
    timeout_ms: int,
) -> list[Record]:
    """Jobs for many requests, as (request_id, id, state) rows keyed by the id each request
    proposed: a new queued job (with its outbox row) or the job reused for an unchanged
    revision. A request whose document is not its tenant's gets no row."""
    return await conn.fetch(
        _INSERT_JOBS, job_ids, message_ids, document_ids, tenant_ids, timeout_ms
    )


async def job_by_idempotency_key(
    conn: Conn, *, document_id: UUID, tenant_id: UUID, key: str
) -> Record | None:
    """The job made earlier with this idempotency key."""
    return await conn.fetchrow(
        "SELECT * FROM jobs WHERE document_id = $1 AND tenant_id = $2 AND idempotency_key = $3",
        document_id,
        tenant_id,
        key,
    )


async def get_job(conn: Conn, job_id: UUID, *, tenant_id: UUID | None) -> Record | None:
    """A job; with ``tenant_id``, only if it is that tenant's (None: internal callers)."""
    if tenant_id is None:
        return await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return await conn.fetchrow(
        "SELECT * FROM jobs WHERE id = $1 AND tenant_id = $2", job_id, tenant_id
    )


async def latest_job(conn: Conn, document_id: UUID) -> Record | None:
    """The document's most recent job."""
    return await conn.fetchrow(
        "SELECT * FROM jobs WHERE document_id = $1 ORDER BY seq DESC LIMIT 1", document_id
    )


# --- the stale-checked apply ----------------------------------------------------------------


async def lock_document_for_apply(conn: Conn, document_id: UUID) -> Record | None:
    """Lock the document row: two results for one document never interleave."""
    return await conn.fetchrow(
        "SELECT current_revision, pdf_revision FROM documents WHERE id = $1 FOR UPDATE",
        document_id,
    )


async def lock_job(conn: Conn, job_id: UUID) -> Record | None:
    """Lock the job row (always after its document's row, so the lock order is fixed)."""
    return await conn.fetchrow(
        "SELECT state, result_message_id FROM jobs WHERE id = $1 FOR UPDATE", job_id
    )


@dataclass(frozen=True, slots=True)
class AppliedPdf:
    """Whose document got a PDF, and when."""

    tenant_id: UUID
    applied_at: datetime


async def set_document_pdf(conn: Conn, *, result: CompileCompleted) -> AppliedPdf:
    """Make the result's PDF the document's applied PDF."""
    assert result.pdf is not None
    row = await conn.fetchrow(
        "UPDATE documents SET pdf_revision = $2, pdf_key = $3, pdf_sha256 = $4, pdf_size = $5,"
        " pdf_pages = $6, pdf_applied_at = now(), pdf_job_id = $7 WHERE id = $1"
        " RETURNING tenant_id, pdf_applied_at",
        result.document_id,
        result.revision,
        result.pdf.key,
        result.pdf.sha256,
        result.pdf.size,
        result.pdf.pages,
        result.job_id,
    )
    assert row is not None  # the caller holds the document's lock
    return AppliedPdf(row["tenant_id"], row["pdf_applied_at"])


_RECORD_RESULT = f"""
UPDATE jobs SET state = $2, finished_at = now(), result_message_id = $3,
    error_code = $4, error_message = $5, error_file = $6, error_line = $7, error_excerpt = $8,
    log_key = $9, log_size = $10, pdf_key = $11, pdf_sha256 = $12, pdf_size = $13,
    pdf_pages = $14, duration_ms = $15, engine_version = $16, cache_hit = $17,
    diagnostics = $18::jsonb, dead_reason = NULL, dead_queue = NULL
WHERE id = $1
RETURNING pg_notify('{JOB_FINAL_CHANNEL}', id::text)
"""


async def record_result(conn: Conn, *, result: CompileCompleted, state: str) -> None:
    """Write the result onto its job, in ``state``, and wake the job's long-polls. A ``dead``
    job that gets its result (a replayed dead letter) no longer carries why it was dead.

    The diagnostics are stored as the contract's JSON (bounded there: at most
    ``MAX_DIAGNOSTICS`` entries), NULL when the result has none.
    """
    err, log, pdf, listed = result.error, result.log, result.pdf, result.diagnostics
    await conn.execute(
        _RECORD_RESULT,
        result.job_id,
        state,
        result.message_id,
        err.code.value if err else None,
        err.message if err else None,
        err.file if err else None,
        err.line if err else None,
        err.excerpt if err else None,
        log.key if log else None,
        log.size if log else None,
        pdf.key if pdf else None,
        pdf.sha256 if pdf else None,
        pdf.size if pdf else None,
        pdf.pages if pdf else None,
        result.duration_ms,
        result.engine_version,
        result.cache_hit,
        listed.model_dump_json() if listed is not None else None,
    )


async def cancel_job(conn: Conn, job_id: UUID) -> Record:
    """Make the (locked, queued) job ``cancelled`` and wake its long-polls; the job's row."""
    row = await conn.fetchrow(
        f"""
        UPDATE jobs SET state = 'cancelled', finished_at = now() WHERE id = $1
        RETURNING *, pg_notify('{JOB_FINAL_CHANNEL}', id::text)
        """,
        job_id,
    )
    assert row is not None  # the caller holds the job's lock
    return row


async def mark_dead(
    conn: Conn, *, job_id: UUID, reason: str, queue: str
) -> tuple[str, bool] | None:
    """Mark a queued job dead: (state after the call, whether it changed); None: no such job."""
    row = await conn.fetchrow(
        f"""
        WITH dead AS (
            UPDATE jobs SET state = 'dead', finished_at = now(), dead_reason = $2, dead_queue = $3
            WHERE id = $1 AND state = 'queued'
            RETURNING state, pg_notify('{JOB_FINAL_CHANNEL}', id::text)
        )
        SELECT coalesce((SELECT state FROM dead), (SELECT state FROM jobs WHERE id = $1)) AS state,
               EXISTS (SELECT 1 FROM dead) AS changed
        """,
        job_id,
        reason,
        queue,
    )
    if row is None or row["state"] is None:
        return None
    return row["state"], row["changed"]
