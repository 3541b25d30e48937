"""Run a texpipe service as a real process, the way an operator does."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType


class ServiceProcess:
    """``python -m <module> [args]`` with ``env``, stdout+stderr to ``log_path``.

    ``start()`` returns once ``health_url`` answers 200 (when given). ``stop()`` sends SIGTERM
    and waits (graceful shutdown); ``kill()`` sends SIGKILL to the whole process group.
    """

    def __init__(
        self,
        module: str,
        *,
        env: Mapping[str, str],
        log_path: Path,
        args: Sequence[str] = (),
        health_url: str | None = None,
    ) -> None:
        self.module, self.args, self.health_url = module, list(args), health_url
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "ServiceProcess":
        """Start the process and wait until it is healthy."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if self.health_url:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        """Poll ``health_url`` until it answers 200, the process dies, or time runs out."""
        assert self.health_url
        assert self.process
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.module} exited {self.process.returncode}:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(self.health_url, timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.module} not healthy within {timeout} s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        """The end of the process's log."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the process group: the service and anything it started."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> "ServiceProcess":
        return self.start() if self.process is None else self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


def migrate_and_sign_in(env: Mapping[str, str], tenant: str) -> str:
    """Migrate the database ``env`` names and create a token for ``tenant`` with the api's own
    commands (``python -m texpipe_api migrate`` and ``create-token``); returns the token.

    Raises ``RuntimeError`` with the end of the command's output when either fails.
    """
    run = {**os.environ, **env}
    for args in (("migrate",), ("create-token", "--tenant", tenant)):
        done = subprocess.run(
            [sys.executable, "-m", "texpipe_api", *args],
            env=run,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            output = f"{done.stdout}{done.stderr}"[-3000:]
            raise RuntimeError(f"texpipe_api {args[0]} exited {done.returncode}: {output}")
    return done.stdout.strip().splitlines()[-1]
