"""Post-deploy checks: the api's /health and /ready, then the enqueue ping through the pipeline.

    TEXPIPE_SERVICE_TOKEN=... python scripts/deploy/post_deploy_check.py https://texpipe.example

1. ``GET /health`` answers 200 (the process serves), retried until ``--wait`` seconds pass,
   because a container that was just restarted takes a few seconds to listen.
2. ``GET /ready`` answers 200 (PostgreSQL, RabbitMQ and S3 reachable from the api).
3. ``POST /internal/v1/ping`` with the service token: the api sends a tiny built-in document
   through the whole pipeline and answers with the time each stage took, or which stage did not
   answer in time. Its JSON body is printed as it is.

Exit status 0 when all three pass; otherwise 1, after naming the check that failed.
Standard library only, so the deploy job needs nothing installed.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: str


def call(url: str, *, method: str = "GET", token: str | None = None, timeout_s: float) -> Answer:
    """One HTTP request; connection errors become status 0 with the error as the body."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = b"{}" if method == "POST" else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return Answer(response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode(errors="replace"))
    except OSError as exc:
        return Answer(0, f"{type(exc).__name__}: {exc}")


def until_ok(url: str, wait_s: float) -> Answer:
    """GET ``url`` once a second until it answers 200 or ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    while True:
        answer = call(url, timeout_s=5)
        if answer.status == 200 or time.monotonic() >= deadline:
            return answer
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="the api's base URL, e.g. https://texpipe.example")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for /health")
    parser.add_argument("--ping-timeout", type=float, default=150.0)
    args = parser.parse_args(argv)
    base = args.base_url.rstrip("/")
    token = os.environ.get("TEXPIPE_SERVICE_TOKEN", "")
    if not token:
        print("post-deploy: TEXPIPE_SERVICE_TOKEN is not set", file=sys.stderr)
        return 1

    checks: tuple[tuple[str, Callable[[], Answer]], ...] = (
        ("health", lambda: until_ok(f"{base}/health", args.wait)),
        ("ready", lambda: until_ok(f"{base}/ready", 30.0)),
        (
            "ping",
            lambda: call(
                f"{base}/internal/v1/ping", method="POST", token=token, timeout_s=args.ping_timeout
            ),
        ),
    )
    for name, check in checks:
        started = time.monotonic()
        answer = check()
        took = time.monotonic() - started
        print(f"post-deploy: {name}: HTTP {answer.status} in {took:.1f} s")
        try:
            print(json.dumps(json.loads(answer.body), indent=2))
        except ValueError:
            print(answer.body[:2000])
        if answer.status != 200:
            print(f"post-deploy: check '{name}' failed", file=sys.stderr)
            return 1
    print("post-deploy: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
