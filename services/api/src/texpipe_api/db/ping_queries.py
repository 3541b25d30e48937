"""SQL of the enqueue ping: its tenant's documents, its job's progress, its housekeeping."""

from datetime import datetime, timedelta
from uuid import UUID

from asyncpg import Record
from texpipe_contracts.jobs import JobState

from texpipe_api.db.conn import Conn

_QUEUED = JobState.QUEUED.value

# At most a few documents per ping tenant (ping_rules.choose_document), each with its latest
# revisions only (prune_revisions): these scans stay tiny.
_DOCUMENTS = f"""
SELECT d.id,
       EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = d.id AND j.state = '{_QUEUED}'
               AND j.created_at > now() - $2::interval) AS busy,
       coalesce((SELECT max(j.seq) FROM jobs j WHERE j.document_id = d.id), 0) AS last_seq
FROM documents d
WHERE d.tenant_id = $1
ORDER BY d.created_at, d.id
"""


async def ping_documents(conn: Conn, tenant_id: UUID, *, busy_for: timedelta) -> list[Record]:
    """(id, busy, last_seq) of the tenant's documents; busy: a job younger than ``busy_for``
    is still queued."""
    return await conn.fetch(_DOCUMENTS, tenant_id, busy_for)


_PRUNE_REVISIONS = f"""
DELETE FROM revisions r
WHERE r.document_id = $1 AND r.revision <= $2
  AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.document_id = r.document_id
                  AND j.revision = r.revision AND j.state = '{_QUEUED}')
"""


async def prune_revisions(conn: Conn, document_id: UUID, *, up_to: int) -> int:
    """Delete the document's revisions up to ``up_to`` whose jobs are all final (the jobs and
    their outbox rows go with them); returns how many."""
    status: str = await conn.execute(_PRUNE_REVISIONS, document_id, up_to)
    return int(status.split()[-1])


async def db_clock(conn: Conn) -> datetime:
    """The database's wall clock now (not the transaction's start, as now() would be)."""
    value: datetime = await conn.fetchval("SELECT clock_timestamp()")
    return value


# The outbox row by its primary key: the outbox has no index on job_id.
_PROGRESS = """
SELECT j.state, j.finished_at, j.duration_ms, j.error_code, j.error_message, j.dead_reason,
       (SELECT o.published_at FROM outbox o WHERE o.id = $2) AS published_at
FROM jobs j
WHERE j.id = $1
"""


async def ping_progress(conn: Conn, job_id: UUID, outbox_id: int) -> Record | None:
    """The job's state and result, with when its outbox row was published."""
    return await conn.fetchrow(_PROGRESS, job_id, outbox_id)
