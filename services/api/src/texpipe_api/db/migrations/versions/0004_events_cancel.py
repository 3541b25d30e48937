"""Outbox rows of several kinds; the ``cancelled`` job state; a per-document event log.

- ``outbox.kind``: ``compile_requested`` (built from its job when published, as before),
  ``pdf_applied`` and ``cancel_requested`` (their message stored whole in ``payload`` when
  the transaction that caused them writes the row).
- ``jobs.state`` takes ``cancelled`` (POST /v1/jobs/{id}/cancel).
- ``document_events``: every job state change and every new revision of a document, numbered
  per document (``seq`` 1, 2, 3, ... without gaps, in commit order), written by triggers in
  the transaction that made the change, so no writer can forget one. The SSE stream
  (GET /v1/documents/{id}/events) replays them after ``Last-Event-ID`` and follows NOTIFY
  ``texpipe_document_events`` (payload: the document id).

Why the numbering is lossless: ``seq`` comes from ``document_event_seqs``, whose row for the
document stays locked by the writing transaction until it commits, so the next writer of the
same document numbers after it and commits after it; a reader that has seen ``seq`` n has
seen every event before n. The lock is taken last in the statement (after the rows that
fired the trigger), and a statement that touches several documents takes them in document
id order (a statement-level trigger), so two writers never wait for each other in a cycle.

Revision ID: 0004
Revises: 0002 (the lead re-points it at 0003 when merging issue 13's migration)
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JOB_STATES = (
    "queued", "applied", "stale", "failed", "timed_out", "rejected", "dead", "superseded",
    "cancelled",
)  # fmt: skip
"""Every state a job may have after this migration."""
_OLD_JOB_STATES = JOB_STATES[:-1]


def _states(states: tuple[str, ...]) -> str:
    return ", ".join(f"'{s}'" for s in states)


UPGRADE = f"""
ALTER TABLE outbox ADD COLUMN kind text NOT NULL DEFAULT 'compile_requested'
    CHECK (kind IN ('compile_requested', 'pdf_applied', 'cancel_requested'));
ALTER TABLE outbox ADD COLUMN payload jsonb;
ALTER TABLE outbox ADD CONSTRAINT outbox_payload_of_kind
    CHECK ((kind = 'compile_requested') = (payload IS NULL));

ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ({_states(JOB_STATES)}));

CREATE TABLE document_event_seqs (
    document_id uuid PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    last_seq bigint NOT NULL
);

CREATE TABLE document_events (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    -- 'job' (a job's state: data has job_id, revision, state, and error for failures) or
    -- 'revision' (a new revision: data has revision, main, engine).
    type text NOT NULL CHECK (type IN ('job', 'revision')),
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, seq)
);
CREATE INDEX document_events_created ON document_events (created_at);

-- Appends one event per element (document, type, data: the arrays side by side), in order.
-- One statement each: the counters are upserted in document id order (see above).
CREATE FUNCTION texpipe_append_document_events(docs uuid[], types text[], datas jsonb[])
RETURNS void LANGUAGE sql AS $$
    WITH e AS (
        SELECT d AS document_id, t AS type, x AS data,
               row_number() OVER (PARTITION BY d ORDER BY ord) AS k
        FROM unnest(docs, types, datas) WITH ORDINALITY AS u (d, t, x, ord)
    ), counts AS (
        SELECT document_id, count(*) AS n FROM e GROUP BY document_id
    ), seqs AS (
        INSERT INTO document_event_seqs AS s (document_id, last_seq)
        SELECT document_id, n FROM counts ORDER BY document_id
        ON CONFLICT (document_id) DO UPDATE SET last_seq = s.last_seq + EXCLUDED.last_seq
        RETURNING document_id, last_seq
    ), written AS (
        INSERT INTO document_events (document_id, seq, type, data)
        SELECT e.document_id, seqs.last_seq - counts.n + e.k, e.type, e.data
        FROM e JOIN counts USING (document_id) JOIN seqs USING (document_id)
        RETURNING document_id
    )
    SELECT count(pg_notify('texpipe_document_events', document_id::text))
    FROM (SELECT DISTINCT document_id FROM written) notified;
$$;

CREATE FUNCTION texpipe_job_data(j jobs) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'job_id', j.id,
        'revision', j.revision,
        'state', j.state,
        'error', CASE WHEN j.error_code IS NULL THEN NULL ELSE jsonb_build_object(
            'code', j.error_code, 'message', j.error_message,
            'file', j.error_file, 'line', j.error_line) END,
        'pdf', CASE WHEN j.state = 'applied' THEN jsonb_build_object(
            'sha256', j.pdf_sha256, 'size', j.pdf_size, 'pages', j.pdf_pages) END,
        'dead_reason', j.dead_reason
    ))
$$;

CREATE FUNCTION texpipe_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM texpipe_append_document_events(
        array_agg(n.document_id ORDER BY n.seq), array_agg('job'::text ORDER BY n.seq),
        array_agg(texpipe_job_data(n) ORDER BY n.seq))
    FROM new_rows n;
    RETURN NULL;
END;
$$;

CREATE FUNCTION texpipe_jobs_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM texpipe_append_document_events(
        array_agg(n.document_id ORDER BY n.seq), array_agg('job'::text ORDER BY n.seq),
        array_agg(texpipe_job_data(n) ORDER BY n.seq))
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.state IS DISTINCT FROM n.state
    HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION texpipe_revisions_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM texpipe_append_document_events(
        array_agg(n.document_id ORDER BY n.revision), array_agg('revision'::text ORDER BY n.revision),
        array_agg(jsonb_build_object('revision', n.revision, 'main', n.main_file,
                                     'engine', n.engine) ORDER BY n.revision))
    FROM new_rows n;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_events_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION texpipe_jobs_inserted();
CREATE TRIGGER jobs_events_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION texpipe_jobs_updated();
CREATE TRIGGER revisions_events_insert AFTER INSERT ON revisions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION texpipe_revisions_inserted();
"""

DOWNGRADE = f"""
DROP TRIGGER revisions_events_insert ON revisions;
DROP TRIGGER jobs_events_update ON jobs;
DROP TRIGGER jobs_events_insert ON jobs;
DROP FUNCTION texpipe_revisions_inserted();
DROP FUNCTION texpipe_jobs_updated();
DROP FUNCTION texpipe_jobs_inserted();
DROP FUNCTION texpipe_job_data(jobs);
DROP FUNCTION texpipe_append_document_events(uuid[], text[], jsonb[]);
DROP TABLE document_events;
DROP TABLE document_event_seqs;
UPDATE jobs SET state = 'dead', dead_reason = 'cancelled' WHERE state = 'cancelled';
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (state IN ({_states(_OLD_JOB_STATES)}));
DELETE FROM outbox WHERE kind <> 'compile_requested';
ALTER TABLE outbox DROP CONSTRAINT outbox_payload_of_kind;
ALTER TABLE outbox DROP COLUMN payload;
ALTER TABLE outbox DROP COLUMN kind;
"""


def _run(script: str) -> None:
    # asyncpg prepares each statement, and a prepared statement holds one command: split at
    # the ';' that ends a line outside a function body ($$ ... $$).
    statement: list[str] = []
    in_body = False
    for line in script.splitlines():
        if line.lstrip().startswith("--") and not in_body:
            continue
        statement.append(line)
        if line.count("$$") % 2:
            in_body = not in_body
        if not in_body and line.rstrip().endswith(";"):
            op.execute("\n".join(statement))
            statement = []


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
