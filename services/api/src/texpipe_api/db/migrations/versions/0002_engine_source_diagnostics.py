"""Which source chose a revision's engine; a job's list of diagnostics.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # request | magic_comment | latexmkrc | default (texpipe_api.sources.EngineSource).
    op.execute("ALTER TABLE revisions ADD COLUMN engine_source text NOT NULL DEFAULT 'request'")
    op.execute("ALTER TABLE jobs ADD COLUMN engine_source text NOT NULL DEFAULT 'request'")
    # The compile's errors, warnings and bad boxes (contracts: CompileCompleted.diagnostics).
    op.execute("ALTER TABLE jobs ADD COLUMN diagnostics jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE jobs DROP COLUMN diagnostics")
    op.execute("ALTER TABLE jobs DROP COLUMN engine_source")
    op.execute("ALTER TABLE revisions DROP COLUMN engine_source")
