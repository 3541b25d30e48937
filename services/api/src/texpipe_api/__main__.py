"""``texpipe-api [serve]``, ``texpipe-api migrate``, ``texpipe-api create-token --tenant NAME``."""

import argparse
import asyncio
import logging
import sys

import structlog
from texpipe_servicekit.logs import configure_logging
from texpipe_servicekit.settings import LogSettings

from texpipe_api.config import DatabaseSettings, Settings

# Each command imports only what it uses: alembic and the HTTP stack each take a second or more
# to import, and `migrate` / `create-token` run as one-off jobs before the server starts.


def serve() -> None:
    """Run the HTTP server until SIGTERM/SIGINT, then shut down gracefully."""
    import uvloop
    from aiohttp import web

    from texpipe_api.app import create_app

    settings = Settings()  # required fields come from the environment
    configure_logging(settings, "api")
    structlog.get_logger(__name__).info(
        "api_starting", host=settings.api_host, port=settings.api_port
    )
    web.run_app(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        reuse_port=settings.api_reuse_port or None,
        keepalive_timeout=settings.keepalive_timeout_s,
        shutdown_timeout=settings.shutdown_timeout_s,
        # Off by default: observe_middleware already counts and times every request.
        access_log=logging.getLogger("aiohttp.access") if settings.api_access_log else None,
        print=None,
        # libuv's loop roughly halves the per-request overhead of the event loop and sockets.
        loop=uvloop.new_event_loop(),
    )


def migrate() -> None:
    """Apply the schema migrations."""
    from texpipe_api.db.migrate import upgrade

    configure_logging(LogSettings(), "api")
    upgrade(DatabaseSettings().database_url.get_secret_value())
    structlog.get_logger(__name__).info("migrations_applied")


async def _create_token(tenant: str) -> str:
    import asyncpg

    from texpipe_api.auth import create_token

    conn = await asyncpg.connect(DatabaseSettings().database_url.get_secret_value())
    try:
        return await create_token(conn, tenant)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``texpipe-api`` command."""
    parser = argparse.ArgumentParser(prog="texpipe-api", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the HTTP API (the default)")
    commands.add_parser("migrate", help="apply the database migrations")
    token = commands.add_parser("create-token", help="make a tenant token; printed once")
    token.add_argument("--tenant", required=True, help="tenant name (created if new)")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        migrate()
    elif args.command == "create-token":
        # The token goes to stdout alone, so `TOKEN=$(texpipe-api create-token ...)` works.
        sys.stdout.write(asyncio.run(_create_token(args.tenant)) + "\n")
    else:
        serve()


if __name__ == "__main__":
    main()
