"""Apply the schema migrations (alembic, raw SQL) to the database.

Alembic's environment runs its own event loop, so from async code call :func:`upgrade_async`,
which runs it in a worker thread instead of blocking the caller's loop.
"""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """The SQLAlchemy URL for asyncpg of a ``postgresql://`` DSN."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
        raise ValueError("the database URL must start with postgresql://")
    return f"postgresql+asyncpg://{rest}"


def alembic_config(database_url: str) -> Config:
    """An alembic Config pointing at our migrations, with the URL passed out of band."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = sqlalchemy_url(database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (blocking; starts its own event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    """:func:`upgrade` from inside a running event loop."""
    await asyncio.to_thread(upgrade, database_url, revision)
