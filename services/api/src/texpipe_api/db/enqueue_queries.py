"""The one statement every compile request goes through: reuse a job or make one, and
supersede the document's older jobs that were never published. The caller owns the
transaction (a batch of requests commits alone; create, update and the ping commit it with
their revision).

The reuse rule, per request, in order (``docs/architecture.md``, "One way into the queue"):

1. its ``Idempotency-Key`` was seen before on this document: the job it was answered with;
2. the document's current revision has its PDF applied: the job that applied it;
3. the document's latest job is queued for the current revision: that job;
4. otherwise a new queued job (one per document per statement, however many requests of the
   batch ask for it) with its outbox row; the document's older queued jobs whose outbox rows
   are still unpublished end ``superseded`` (rows a relay is publishing right now are skipped:
   they go out, and the new job waits behind them).

A key is recorded with the job it was answered with. Requests for one document are serialized
by its row lock (:func:`enqueue`), so a key is always seen by the next request; should a
concurrent insert of the same key still win (a caller that skipped the lock), its row comes
back with ``settled`` false and the caller reads the key's job once this transaction committed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from asyncpg import Record
from texpipe_contracts.jobs import JobState

from texpipe_api.db.conn import Conn
from texpipe_api.db.job_queries import JOB_FINAL_CHANNEL, OUTBOX_CHANNEL

_QUEUED = JobState.QUEUED.value
_SUPERSEDED = JobState.SUPERSEDED.value


@dataclass(frozen=True, slots=True)
class CompileRequest:
    """One compile request: the ids a new job would get, whose document, and its key."""

    job_id: UUID
    message_id: UUID
    document_id: UUID
    tenant_id: UUID
    key: str | None


_ENQUEUE = f"""
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[])
        WITH ORDINALITY AS r (job_id, message_id, document_id, tenant_id, key, n)
), doc AS (
    SELECT req.*, d.current_revision, rv.engine, rv.engine_source, k.job_id AS keyed_id,
           CASE WHEN d.pdf_revision = d.current_revision
                THEN (SELECT a.id FROM jobs a WHERE a.id = d.pdf_job_id)
                ELSE (SELECT l.id FROM (
                          SELECT j.id, j.revision, j.state FROM jobs j
                          WHERE j.document_id = d.id ORDER BY j.seq DESC LIMIT 1) l
                      WHERE l.revision = d.current_revision AND l.state = '{_QUEUED}')
           END AS reuse_id
    FROM req
    JOIN documents d ON d.id = req.document_id AND d.tenant_id = req.tenant_id
    JOIN revisions rv ON rv.document_id = d.id AND rv.revision = d.current_revision
    LEFT JOIN job_keys k ON k.document_id = d.id AND k.key = req.key
), fresh AS (
    SELECT DISTINCT ON (document_id) document_id, job_id, message_id, tenant_id,
           current_revision, engine, engine_source
    FROM doc WHERE keyed_id IS NULL AND reuse_id IS NULL
    ORDER BY document_id, n
), decided AS (
    SELECT doc.n, doc.job_id AS request_id, doc.document_id, doc.key,
           doc.keyed_id IS NOT NULL AS known,
           coalesce(doc.keyed_id, doc.reuse_id, fresh.job_id) AS job_id
    FROM doc LEFT JOIN fresh ON fresh.document_id = doc.document_id
), keyed AS (
    INSERT INTO job_keys (document_id, key, job_id)
    SELECT DISTINCT ON (document_id, key) document_id, key, job_id FROM decided
    WHERE key IS NOT NULL AND NOT known
    ORDER BY document_id, key, n
    ON CONFLICT DO NOTHING
    RETURNING document_id, key
), answered AS (
    SELECT decided.*,
           (key IS NULL OR known OR EXISTS (SELECT 1 FROM keyed
               WHERE keyed.document_id = decided.document_id AND keyed.key = decided.key))
           AS settled
    FROM decided
), job AS (
    INSERT INTO jobs (id, tenant_id, document_id, revision, engine, engine_source, timeout_ms)
    SELECT f.job_id, f.tenant_id, f.document_id, f.current_revision, f.engine, f.engine_source,
           $6
    FROM fresh f WHERE EXISTS (SELECT 1 FROM answered a WHERE a.job_id = f.job_id AND a.settled)
    RETURNING id, state, document_id
), queued AS (
    INSERT INTO outbox (job_id, message_id)
    SELECT job.id, f.message_id FROM job JOIN fresh f ON f.job_id = job.id
    RETURNING id, job_id
), held AS (
    -- SKIP LOCKED: a row a relay is publishing goes out; a row another enqueue is superseding
    -- is that one's. Neither waits, so enqueues never deadlock here.
    SELECT o.id, o.job_id FROM outbox o JOIN jobs h ON h.id = o.job_id
    WHERE h.document_id IN (SELECT document_id FROM job) AND h.state = '{_QUEUED}'
      AND o.published_at IS NULL AND o.kind = 'compile_requested'
    FOR UPDATE OF o SKIP LOCKED
), dropped AS (
    DELETE FROM outbox WHERE id IN (SELECT id FROM held) RETURNING job_id
), superseded AS (
    UPDATE jobs SET state = '{_SUPERSEDED}', finished_at = now()
    WHERE id IN (SELECT job_id FROM dropped) AND state = '{_QUEUED}'
    RETURNING pg_notify('{JOB_FINAL_CHANNEL}', id::text) IS NULL AS notified
)
-- Only what the answers need: decoding whole job rows would cost more than the insert.
SELECT a.request_id, a.job_id AS id, coalesce(job.state, j.state) AS state,
       queued.id AS outbox_id, a.settled,
       (SELECT count(*) FROM superseded) AS superseded,
       CASE WHEN queued.id IS NOT NULL THEN pg_notify('{OUTBOX_CHANNEL}', '') IS NULL END
           AS notified
FROM answered a
LEFT JOIN job ON job.id = a.job_id
LEFT JOIN queued ON queued.job_id = a.job_id
LEFT JOIN jobs j ON j.id = a.job_id
ORDER BY a.n
"""


_LOCK_DOCUMENTS = "SELECT 1 FROM documents WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE"


async def enqueue(
    conn: Conn, requests: Sequence[CompileRequest], *, timeout_ms: int
) -> list[Record]:
    """Answer each request with a job: rows (request_id, id, state, outbox_id, settled,
    superseded) in the requests' order, ``request_id`` the ``job_id`` a request proposed.
    ``outbox_id`` is set when the job is new; ``superseded`` counts the jobs the statement
    superseded (the same on every row). A request whose document is not its tenant's gets no
    row; one with ``settled`` false must read its key's job (:func:`job_for_key`) after the
    commit.

    The documents' rows are locked first, in id order, by a statement of their own: two
    batches with requests for one document (the api answers many requests at once, in
    several batches) then run one after the other, and the second sees the first's job (one
    statement's snapshot is taken before it waits for a lock, so locking inside ``_ENQUEUE``
    would not). A transaction the caller holds is used; otherwise one is opened here.
    """
    documents = sorted({r.document_id for r in requests})
    async with conn.transaction():
        await conn.execute(_LOCK_DOCUMENTS, documents)
        return await conn.fetch(
            _ENQUEUE,
            [r.job_id for r in requests],
            [r.message_id for r in requests],
            [r.document_id for r in requests],
            [r.tenant_id for r in requests],
            [r.key for r in requests],
            timeout_ms,
        )


async def job_for_key(conn: Conn, *, document_id: UUID, tenant_id: UUID, key: str) -> Record | None:
    """(id, state) of the job an idempotency key was answered with."""
    return await conn.fetchrow(
        "SELECT j.id, j.state FROM job_keys k JOIN jobs j ON j.id = k.job_id"
        " WHERE k.document_id = $1 AND k.key = $3 AND j.tenant_id = $2",
        document_id,
        tenant_id,
        key,
    )
