"""Reaching the servers a test needs; a missing one fails the run with how to start it."""

import os
import socket
from urllib.parse import urlsplit

import pytest

HOW_TO_START = {
    "RabbitMQ": "start it with 'rabbitmq-server -detached' (Debian package rabbitmq-server)",
    "PostgreSQL": (
        "start it with 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'"
        " (Debian package postgresql)"
    ),
}


def in_ci() -> bool:
    """Whether this run is CI (CI=true)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_server(name: str, url: str, default_port: int) -> None:
    """Fail (never skip) when the server at ``url`` does not accept connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    if not tcp_reachable(host, port):
        pytest.fail(
            f"{name} is not reachable at {host}:{port}; {HOW_TO_START.get(name, 'start it')}."
            " Tests that need it fail rather than skip (under CI=true and everywhere else).",
            pytrace=False,
        )
