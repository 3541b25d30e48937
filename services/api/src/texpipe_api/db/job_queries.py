"""SQL statements on compile jobs: read, and the stale-checked apply of results (enqueueing is
``enqueue_queries.py``). The caller owns the transaction.

A job that becomes final wakes its long-polls (``JOB_FINAL_CHANNEL``) and the outbox relays
(``OUTBOX_CHANNEL``): the document's next job may have been held behind it."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from asyncpg import Record
from pydantic import TypeAdapter
from texpipe_contracts.jobs import JobState
from texpipe_contracts.v1 import CompileCompleted, OutputFile

from texpipe_api.db.conn import Conn

JOB_FINAL_CHANNEL = "texpipe_job_final"
"""NOTIFY channel, payload a job id: the job reached a final state (long-polls wake up)."""
OUTBOX_CHANNEL = "texpipe_outbox"
"""NOTIFY channel: an outbox row was written, or a job became final (relays wake up)."""
_OUTPUT_LIST = TypeAdapter(list[OutputFile])


# --- jobs (enqueueing is enqueue_queries.py) ------------------------------------------------


async def get_job(conn: Conn, job_id: UUID, *, tenant_id: UUID | None) -> Record | None:
    """A job; with ``tenant_id``, only if it is that tenant's (None: internal callers)."""
    if tenant_id is None:
        return await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return await conn.fetchrow(
        "SELECT * FROM jobs WHERE id = $1 AND tenant_id = $2", job_id, tenant_id
    )


async def applied_synctex(conn: Conn, *, document_id: UUID, tenant_id: UUID) -> Record | None:
    """The tenant's document with what SyncTeX needs of its applied PDF: the job's SyncTeX
    object and root, the revision's main file and file list (NULLs when there is none)."""
    return await conn.fetchrow(
        "SELECT d.pdf_revision, d.pdf_pages, d.pdf_job_id, j.synctex_key, j.synctex_size,"
        " j.synctex_root, r.main_file, r.files FROM documents d"
        " LEFT JOIN jobs j ON j.id = d.pdf_job_id"
        " LEFT JOIN revisions r ON r.document_id = d.id AND r.revision = d.pdf_revision"
        " WHERE d.id = $1 AND d.tenant_id = $2",
        document_id,
        tenant_id,
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
    diagnostics = $18::jsonb, dead_reason = NULL, dead_queue = NULL,
    synctex_key = $19, synctex_size = $20, synctex_root = $21, outputs = $22::jsonb
WHERE id = $1
RETURNING pg_notify('{JOB_FINAL_CHANNEL}', id::text), pg_notify('{OUTBOX_CHANNEL}', '')
"""


async def record_result(conn: Conn, *, result: CompileCompleted, state: str) -> None:
    """Write the result onto its job, in ``state``, and wake the job's long-polls. A ``dead``
    job that gets its result (a replayed dead letter) no longer carries why it was dead.

    The diagnostics and the output files are stored as the contract's JSON (bounded there:
    at most ``MAX_DIAGNOSTICS`` and ``MAX_OUTPUT_FILES`` entries), NULL when the result has
    none.
    """
    err, log, pdf, listed = result.error, result.log, result.pdf, result.diagnostics
    synctex, outputs = result.synctex, result.outputs
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
        synctex.key if synctex else None,
        synctex.size if synctex else None,
        synctex.project_root if synctex else None,
        _OUTPUT_LIST.dump_json(outputs).decode() if outputs is not None else None,
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
            UPDATE jobs SET state = '{JobState.DEAD.value}', finished_at = now(),
                dead_reason = $2, dead_queue = $3
            WHERE id = $1 AND state = '{JobState.QUEUED.value}'
            RETURNING state, pg_notify('{JOB_FINAL_CHANNEL}', id::text),
                pg_notify('{OUTBOX_CHANNEL}', '')
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


async def mark_started(conn: Conn, job_id: UUID) -> tuple[str, bool] | None:
    """Record that a queued job's compile began: (state after the call, whether this call
    recorded it); None: no such job. The first call for a queued job sets ``started_at`` and
    appends the document's ``compiling`` event in the same transaction; later calls, and
    calls for a final job, change nothing."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""
            UPDATE jobs SET started_at = now()
            WHERE id = $1 AND state = '{JobState.QUEUED.value}' AND started_at IS NULL
            RETURNING document_id, revision, state
            """,
            job_id,
        )
        if row is None:
            state = await conn.fetchval("SELECT state FROM jobs WHERE id = $1", job_id)
            return None if state is None else (state, False)
        await conn.execute(
            "SELECT texpipe_append_document_events(ARRAY[$1::uuid], ARRAY['job'],"
            " ARRAY[jsonb_build_object('job_id', $2::uuid, 'revision', $3::int,"
            " 'state', 'compiling')])",
            row["document_id"],
            job_id,
            row["revision"],
        )
        return row["state"], True
