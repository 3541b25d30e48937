"""Initial schema: tenants and tokens, documents and revisions, jobs, the outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import re

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only the sha256 of a token is stored: a leaked table gives no usable credential.
CREATE TABLE api_tokens (
    token_sha256 text PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE documents (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    current_revision integer NOT NULL CHECK (current_revision >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The applied PDF; written only by the stale-checked apply, under this row's lock.
    pdf_revision integer,
    pdf_key text,
    pdf_sha256 text,
    pdf_size bigint,
    pdf_pages integer,
    pdf_applied_at timestamptz,
    pdf_job_id uuid
);
CREATE INDEX documents_tenant ON documents (tenant_id);

CREATE TABLE revisions (
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    revision integer NOT NULL,
    main_file text NOT NULL,
    engine text NOT NULL,
    source_key text NOT NULL,
    source_sha256 text NOT NULL,
    source_size bigint NOT NULL,
    file_count integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, revision)
);

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    -- Orders a document's jobs without trusting clocks: the latest job has the highest seq.
    seq bigint GENERATED ALWAYS AS IDENTITY,
    tenant_id uuid NOT NULL,
    document_id uuid NOT NULL,
    revision integer NOT NULL,
    state text NOT NULL DEFAULT 'queued' CHECK (
        state IN ('queued', 'applied', 'stale', 'failed', 'timed_out', 'rejected', 'dead')
    ),
    engine text NOT NULL,
    timeout_ms integer NOT NULL,
    idempotency_key text,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    result_message_id uuid,
    error_code text,
    error_message text,
    error_file text,
    error_line integer,
    error_excerpt text,
    log_key text,
    log_size bigint,
    pdf_key text,
    pdf_sha256 text,
    pdf_size bigint,
    pdf_pages integer,
    duration_ms integer,
    engine_version text,
    cache_hit boolean,
    dead_reason text,
    dead_queue text,
    FOREIGN KEY (document_id, revision) REFERENCES revisions ON DELETE CASCADE
);
CREATE INDEX jobs_document_latest ON jobs (document_id, seq DESC);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (document_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- The transactional outbox: a row per message to publish, written with its job.
CREATE TABLE outbox (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    message_id uuid NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
"""

DOWNGRADE = """
DROP TABLE outbox;
DROP TABLE jobs;
DROP TABLE revisions;
DROP TABLE documents;
DROP TABLE api_tokens;
DROP TABLE tenants;
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
