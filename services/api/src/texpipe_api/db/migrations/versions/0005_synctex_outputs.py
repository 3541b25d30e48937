"""A job's SyncTeX file and output files; a revision's list of file paths.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # contracts: CompileCompleted.synctex (the sandbox's project root maps names inside it).
    op.execute("ALTER TABLE jobs ADD COLUMN synctex_key text")
    op.execute("ALTER TABLE jobs ADD COLUMN synctex_size bigint")
    op.execute("ALTER TABLE jobs ADD COLUMN synctex_root text")
    # contracts: CompileCompleted.outputs, as its JSON (at most MAX_OUTPUT_FILES entries).
    op.execute("ALTER TABLE jobs ADD COLUMN outputs jsonb")
    # The revision's project paths: what a SyncTeX name may map to. NULL for revisions made
    # before this column (their SyncTeX answers say so).
    op.execute("ALTER TABLE revisions ADD COLUMN files text[]")


def downgrade() -> None:
    op.execute("ALTER TABLE revisions DROP COLUMN files")
    op.execute("ALTER TABLE jobs DROP COLUMN outputs")
    op.execute("ALTER TABLE jobs DROP COLUMN synctex_root")
    op.execute("ALTER TABLE jobs DROP COLUMN synctex_size")
    op.execute("ALTER TABLE jobs DROP COLUMN synctex_key")
