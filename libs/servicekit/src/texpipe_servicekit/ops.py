"""/health, /ready and /metrics, the same for every service.

``/health`` says the process serves requests. ``/ready`` runs each named dependency check with
a timeout and answers 503 problem+json naming the ones that failed. A check that returns a
mapping (the broker's: ``{"node": "host:port"}``, the node the service uses) has it shown under
``details`` in either answer. ``/metrics`` is the
prometheus_client default registry in the text format.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], Awaitable[object]]
CHECK_TIMEOUT_S = 3.0

log = structlog.get_logger(__name__)


async def _run_check(name: str, check: Check) -> tuple[str, str | None, object]:
    """(name, why it failed or None, what it returned)."""
    try:
        result = await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return name, f"no answer within {CHECK_TIMEOUT_S:g} s", None
    except Exception as exc:
        return name, f"{type(exc).__name__}: {exc}"[:300], None
    return name, None, result


def readiness_handler(
    checks: Mapping[str, Check],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler that runs ``checks`` concurrently."""

    async def ready(_: web.Request) -> web.Response:
        results = await asyncio.gather(*(_run_check(n, c) for n, c in checks.items()))
        failed = {name: reason for name, reason, _ in results if reason is not None}
        details = {name: dict(res) for name, _, res in results if isinstance(res, Mapping)}
        extra: dict[str, Any] = {"details": details} if details else {}
        if not failed:
            return web.json_response({"status": "ready", "checks": sorted(checks), **extra})
        log.warning("not_ready", failed=failed)
        return web.json_response(
            {
                "type": "about:blank",
                "title": "Service not ready",
                "status": 503,
                "code": "NOT_READY",
                "detail": "unreachable: " + ", ".join(sorted(failed)),
                "failed": failed,
                **extra,
            },
            status=503,
            content_type="application/problem+json",
        )

    return ready


async def health(_: web.Request) -> web.Response:
    """The process is up and its event loop answers."""
    return web.json_response({"status": "ok"})


async def metrics(_: web.Request) -> web.Response:
    """Prometheus text exposition of the default registry."""
    body = await asyncio.to_thread(generate_latest)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def add_ops_routes(app: web.Application, checks: Mapping[str, Check]) -> None:
    """Mount /health, /ready and /metrics on an existing aiohttp application."""
    app.router.add_get("/health", health)
    app.router.add_get("/ready", readiness_handler(checks))
    app.router.add_get("/metrics", metrics)


class OpsServer:
    """A small HTTP server for a service whose main loop is a broker consumer."""

    def __init__(self, host: str, port: int, checks: Mapping[str, Check]) -> None:
        self._host, self._port = host, port
        app = web.Application()
        add_ops_routes(app, checks)
        self._runner = web.AppRunner(app, access_log=None)
        self.port: int | None = None

    async def start(self) -> None:
        """Listen; ``port`` then holds the bound port (useful with port 0 in tests)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("ops_server_started", host=self._host, port=self.port)

    async def stop(self) -> None:
        """Stop listening."""
        await self._runner.cleanup()
