"""Post-deploy checks: the api's /health and /ready, then the enqueue ping through the pipeline.

    TEXPIPE_SERVICE_TOKEN=... python scripts/deploy/post_deploy_check.py https://texpipe.example

1. ``GET /health`` answers 200 (the process serves), retried until ``--wait`` seconds pass,
   because a container that was just restarted takes a few seconds to listen.
2. ``GET /ready`` answers 200 (PostgreSQL, RabbitMQ and S3 reachable from the api).
3. ``POST /internal/v1/ping`` with the service token and ``{"timeout_s": --ping-timeout}``:
   the api sends a tiny built-in document through the whole pipeline (api -> outbox ->
   RabbitMQ -> compiler -> S3 -> applier -> api) and answers 200
   ``{"status": "ok", "job_id", "stages": {"accepted_ms", "published_ms", "compile_ms",
   "applied_ms"}, "total_ms"}``; 504 ``PING_TIMEOUT`` names the ``stage`` not reached in time
   (``published``: the outbox relay / RabbitMQ; ``applied``: compiler, S3 or applier); 502
   ``PING_FAILED`` gives the job's ``state`` and ``error``. The body is printed as it is, after
   a one-line summary.

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


def call(
    url: str, *, token: str | None = None, body: dict[str, object] | None = None, timeout_s: float
) -> Answer:
    """One HTTP request (POST when there is a body); connection errors become status 0 with the
    error as the body."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    method = "GET" if data is None else "POST"
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


def ping_summary(answer: Answer) -> tuple[bool, str]:
    """Whether the ping passed, and one line saying what its answer means."""
    try:
        body = json.loads(answer.body)
    except ValueError:
        return False, "the answer is not JSON"
    if not isinstance(body, dict):
        return False, "the answer is not a JSON object"
    stages = body.get("stages") or {}
    timings = ", ".join(f"{name.removesuffix('_ms')} {ms} ms" for name, ms in stages.items())
    if answer.status == 200 and body.get("status") == "ok":
        return True, f"ok in {body.get('total_ms')} ms ({timings}; compile: the compiler's time)"
    if body.get("code") == "PING_TIMEOUT":
        return False, f"stage '{body.get('stage')}' did not answer in time (reached: {timings})"
    if body.get("code") == "PING_FAILED":
        return False, f"the ping's job ended '{body.get('state')}': {body.get('error')}"
    return False, f"{body.get('code', 'unexpected answer')}: {body.get('detail', '')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="the api's base URL, e.g. https://texpipe.example")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for /health")
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=60.0,
        help="seconds the api waits for the whole pipeline (at most 120)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.ping_timeout <= 120:
        parser.error("--ping-timeout must be more than 0 and at most 120 seconds")
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
            # The api answers by its own deadline; the margin covers the source upload.
            lambda: call(
                f"{base}/internal/v1/ping",
                token=token,
                body={"timeout_s": args.ping_timeout},
                timeout_s=args.ping_timeout + 30,
            ),
        ),
    )
    for name, check in checks:
        started = time.monotonic()
        answer = check()
        took = time.monotonic() - started
        print(f"post-deploy: {name}: HTTP {answer.status} in {took:.1f} s")
        ok = answer.status == 200
        if name == "ping":
            ok, summary = ping_summary(answer)
            print(f"post-deploy: ping: {summary}")
        try:
            print(json.dumps(json.loads(answer.body), indent=2))
        except ValueError:
            print(answer.body[:2000])
        if not ok:
            print(f"post-deploy: check '{name}' failed", file=sys.stderr)
            return 1
    print("post-deploy: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
