"""Alembic environment: runs the migrations over SQLAlchemy's asyncpg dialect.

The database URL comes from ``config.attributes["database_url"]`` (set by
:func:`texpipe_api.db.migrate.upgrade`), never from an ini file, so no secret is written down.
A transaction-scoped advisory lock lets several api processes run ``migrate`` at once.
"""

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

MIGRATION_LOCK_ID = 0x7E7919E  # any constant shared by every migrating process


def _do_run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()


async def _run_online() -> None:
    url: str = context.config.attributes["database_url"]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_do_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run 'texpipe-api migrate'")
asyncio.run(_run_online())
