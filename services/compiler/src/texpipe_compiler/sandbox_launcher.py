"""Start a sandbox with its driver; kill the whole sandbox when done.

One sandbox per compile job: the project, every pass and every output stay in the same
tmpfs, and killing the sandbox's pid 1 ends everything it started. With control groups
(``cgroups``), the job's group is made first, the sandbox enters it before it runs
anything, and the group is emptied and removed after the sandbox is gone.
"""

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from texpipe_compiler import cgroups, metrics, sandbox
from texpipe_compiler.errors import SandboxError
from texpipe_compiler.sandbox_session import SandboxSession

STDERR_CAP = 64 * 1024
MONITOR_EXIT_TIMEOUT_S = 2.0
_MAX_HEADER = 4 * 1024 * 1024


def driver_source() -> str:
    """The driver's source text, shipped inside this package."""
    return resources.files("texpipe_compiler").joinpath("sandbox_driver.py").read_text("utf-8")


class SandboxLauncher:
    """Starts sandboxes with a fixed layout, limits and seccomp filter."""

    def __init__(
        self,
        layout: sandbox.SandboxLayout,
        limits: sandbox.SandboxLimits,
        seccomp: bytes,
        job_groups: cgroups.Cgroups | None = None,
    ) -> None:
        """``job_groups``: where each sandbox gets a control group of its own (None: none)."""
        self._layout, self._limits, self._seccomp = layout, limits, seccomp
        self._groups = job_groups
        self._driver = driver_source()

    @contextlib.asynccontextmanager
    async def session(
        self, uid: int | None, cpu_s: int, *, format_file: Path | None = None
    ) -> AsyncIterator[SandboxSession]:
        """A running sandbox as ``uid`` (when the service is root); killed on exit.

        ``cpu_s`` is the CPU-time limit of each process, at least the job's wall clock;
        ``format_file``: the job's preamble format, mounted read-only
        (``latex_commands.FORMAT_FILE``).
        """
        group = await asyncio.to_thread(self._groups.create) if self._groups else None
        try:
            async with self._started(uid, cpu_s, group, format_file) as session:
                yield session
        finally:
            if group is not None:
                await asyncio.shield(asyncio.to_thread(group.destroy))

    @contextlib.asynccontextmanager
    async def _started(
        self,
        uid: int | None,
        cpu_s: int,
        group: cgroups.JobCgroup | None,
        format_file: Path | None,
    ) -> AsyncIterator[SandboxSession]:
        seccomp_read, write_fd = os.pipe()
        try:
            os.write(write_fd, self._seccomp)  # a few hundred bytes: fits the pipe buffer
        finally:
            os.close(write_fd)
        info_read, info_write = os.pipe()
        os.set_blocking(info_read, False)
        # The protocol's pipes: the driver's ends are passed as fds of their own (never
        # stdio, which the sandbox's pid 1 keeps); the host's ends are not inheritable.
        to_driver, host_out = os.pipe()
        host_in, from_driver = os.pipe()
        argv = [
            *cgroups.enter_argv(group),
            *sandbox.identity_argv(uid),
            *sandbox.rlimit_argv(self._limits, cpu_s),
            *sandbox.bwrap_argv(
                self._layout,
                self._limits,
                seccomp_read,
                info_write,
                format_file=None if format_file is None else str(format_file),
            ),
            *sandbox.driver_argv(self._layout, self._driver, to_driver, from_driver),
        ]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(seccomp_read, info_write, to_driver, from_driver),
                start_new_session=True,
                env={"PATH": "/usr/bin:/bin"},
            )
        except BaseException:
            for fd in (info_read, host_out, host_in):
                os.close(fd)
            raise
        finally:
            for fd in (seccomp_read, info_write, to_driver, from_driver):
                os.close(fd)
        stderr = bytearray()
        drain = asyncio.create_task(_drain(process, stderr))
        child_pid: int | None = None
        pipes: list[asyncio.BaseTransport] = []
        try:
            reader, writer = await _connect(host_in, host_out, pipes)
            session = SandboxSession(reader, writer, group)
            try:
                await session.wait_ready()
            except (SandboxError, TimeoutError) as exc:
                await _kill(process, None)
                await drain
                detail = bytes(stderr).decode("utf-8", "replace").strip()[-500:]
                raise SandboxError(f"the sandbox did not start: {detail or exc}") from exc
            child_pid = _child_pid(info_read)  # written by bwrap before the driver started
            yield session
        finally:
            os.close(info_read)
            try:
                if child_pid is not None and process.returncode is None:  # pid 1 still ours
                    metrics.SANDBOX_CPU.inc(tree_cpu_seconds(child_pid))
            finally:
                await _kill(process, child_pid)
            for transport in pipes:
                transport.close()
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and all its descendants so far, from ``/proc``.

    Each process adds its own time and that of the children it has reaped (``stat`` fields
    14-17, clock ticks); living children are walked through ``task/*/children``. A process
    that ends meanwhile is skipped. Why not ``getrusage(RUSAGE_CHILDREN)`` in the compiler:
    bwrap's monitor exits on its init's exit-code event without reaping that init, so a
    sandbox's CPU never reaches the compiler (measured: 0.0 s for a 1 s loop in bwrap).
    """
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        proc = Path(f"/proc/{current}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            children = [
                int(child)
                for task in (proc / "task").iterdir()
                for child in (task / "children").read_text().split()
            ]
        except (OSError, IndexError, ValueError):
            continue
        total += sum(int(f) for f in fields[11:15])
        stack += children
    return total / os.sysconf("SC_CLK_TCK")


async def _connect(
    host_in: int, host_out: int, transports: list[asyncio.BaseTransport]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams over the host's ends of the protocol pipes (each fd owned by a transport,
    appended to ``transports`` as soon as it exists, for the caller to close)."""
    loop = asyncio.get_running_loop()
    in_file, out_file = os.fdopen(host_in, "rb", buffering=0), os.fdopen(host_out, "wb", 0)
    try:
        reader = asyncio.StreamReader(limit=_MAX_HEADER)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), in_file
        )
        transports.append(read_transport)
        write_transport, write_protocol = await loop.connect_write_pipe(
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()), out_file
        )
        transports.append(write_transport)
    except BaseException:
        if not transports:
            in_file.close()
        out_file.close()
        raise
    return reader, asyncio.StreamWriter(write_transport, write_protocol, None, loop)


async def _drain(process: asyncio.subprocess.Process, into: bytearray) -> None:
    assert process.stderr is not None
    while chunk := await process.stderr.read(65536):
        if len(into) < STDERR_CAP:
            into += chunk[: STDERR_CAP - len(into)]


def _child_pid(info_fd: int) -> int | None:
    try:
        info = json.loads(os.read(info_fd, 4096))
    except (OSError, ValueError):
        return None
    pid = info.get("child-pid") if isinstance(info, dict) else None
    return pid if isinstance(pid, int) and pid > 1 else None


async def _kill(process: asyncio.subprocess.Process, child_pid: int | None) -> None:
    """Kill the whole sandbox and reap it (idempotent).

    SIGKILL to the sandbox's pid 1 makes the kernel kill every process of its pid namespace;
    bwrap (the monitor outside) exits once they are all gone, so when ``wait()`` returns no
    process of the job is left. The process-group kill is the fallback.
    """
    # Shielded: a cancelled compile must still reap its sandbox.
    if process.returncode is None and child_pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child_pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), MONITOR_EXIT_TIMEOUT_S)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    await asyncio.shield(process.wait())
