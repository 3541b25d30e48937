"""Coalescing and one reuse rule: the ``superseded`` state, idempotency keys of their own.

- ``jobs.state`` admits ``superseded`` (texpipe_contracts.jobs.JobState): a queued job whose
  outbox row was never published, replaced by a newer compile request of its document.
- ``job_keys``: an ``Idempotency-Key`` names the job its first request was answered with,
  which may be an existing job (an applied or a queued one) rather than a new one. Existing
  keys are copied from ``jobs.idempotency_key``; that column is no longer written and is left
  for the previous release (expand, then contract: a later release drops it).
- Indexes for the relay's hold rule and for superseding: a document's queued jobs, the outbox
  row of a job. Plain ``CREATE INDEX`` (migrations run in one transaction under an advisory
  lock): writes to ``jobs``/``outbox`` wait while they build.

Backward compatible: the previous release runs unchanged on this schema. It does not know the
state ``superseded``; after a rollback, reading such a job answers 500 until the jobs age out.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import re

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The constraint is added NOT VALID and validated afterwards: validating takes no lock that
# blocks writes, and every existing row already satisfies the wider list. It keeps its name,
# jobs_state_check, for the migrations that widen it again.
UPGRADE = """
ALTER TABLE jobs ADD CONSTRAINT jobs_state_wider CHECK (
    state IN ('queued', 'applied', 'stale', 'failed', 'timed_out', 'rejected', 'dead',
              'superseded')
) NOT VALID;
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs RENAME CONSTRAINT jobs_state_wider TO jobs_state_check;
ALTER TABLE jobs VALIDATE CONSTRAINT jobs_state_check;

CREATE TABLE job_keys (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    key text NOT NULL,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, key)
);
CREATE INDEX job_keys_job ON job_keys (job_id);
INSERT INTO job_keys (document_id, key, job_id, created_at)
    SELECT document_id, idempotency_key, id, created_at FROM jobs
    WHERE idempotency_key IS NOT NULL;

CREATE INDEX jobs_queued ON jobs (document_id, seq) WHERE state = 'queued';
CREATE INDEX outbox_job ON outbox (job_id);
"""

# Superseded jobs become stale ones: the nearest state the old constraint admits.
DOWNGRADE = """
DROP INDEX outbox_job;
DROP INDEX jobs_queued;
UPDATE jobs SET idempotency_key = k.key FROM job_keys k
    WHERE k.job_id = jobs.id AND jobs.idempotency_key IS NULL
      AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.document_id = k.document_id
                      AND o.idempotency_key = k.key);
DROP TABLE job_keys;
UPDATE jobs SET state = 'stale' WHERE state = 'superseded';
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check CHECK (
    state IN ('queued', 'applied', 'stale', 'failed', 'timed_out', 'rejected', 'dead')
);
"""


def _run(script: str) -> None:
    # The asyncpg driver prepares each statement, and a prepared statement holds one command.
    for statement in re.split(r";\s*\n", script):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
