"""When a job's compile began: ``jobs.started_at``.

Set once, by ``POST /internal/v1/jobs/{id}/started`` (the compiler's best-effort
``latex.compile.started.v1``, relayed by the applier), and only while the job is ``queued``.
The same transaction appends a ``job`` event with state ``compiling`` to the document's event
log through ``texpipe_append_document_events`` (migration 0004): the job's own state stays
``queued`` (a compile that dies is redelivered, and a lost notice must change nothing), so
the update trigger, which logs state changes only, does not write it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS started_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN started_at")
