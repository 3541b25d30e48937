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
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import structlog

from texpipe_compiler import cgroups, metrics, sandbox
from texpipe_compiler.errors import SandboxError
from texpipe_compiler.latex_commands import FORMAT_FILE
from texpipe_compiler.sandbox_session import SandboxSession

log = structlog.get_logger(__name__)

STDERR_CAP = 64 * 1024
MONITOR_EXIT_TIMEOUT_S = 2.0
_MAX_HEADER = 4 * 1024 * 1024
SPARE_DELAY_S = 0.15
"""How long after a job's sandbox is gone its slot's spare starts."""


def driver_source() -> str:
    """The driver's source text, shipped inside this package."""
    return resources.files("texpipe_compiler").joinpath("sandbox_driver.py").read_text("utf-8")


@dataclass(eq=False)
class _Sandbox:
    """One started sandbox: its driver's session, processes, control group and the host
    folder mounted read-only at ``FORMAT_DIR`` (empty until a job links its format in)."""

    session: SandboxSession
    process: asyncio.subprocess.Process
    child_pid: int | None
    group: cgroups.JobCgroup | None
    format_dir: Path
    info_read: int
    pipes: list[asyncio.BaseTransport]
    drain: "asyncio.Task[None]"

    @property
    def alive(self) -> bool:
        """Its processes are still there (a spare may be killed while it waits)."""
        return self.process.returncode is None

    async def close(self) -> None:
        """Kill everything in it, reap it, release its group and folder (each step even when
        an earlier one failed)."""
        try:
            if self.child_pid is not None and self.process.returncode is None:
                metrics.SANDBOX_CPU.inc(tree_cpu_seconds(self.child_pid))
        finally:
            try:
                await _teardown(
                    self.process, self.child_pid, self.info_read, self.pipes, self.drain
                )
            finally:
                try:
                    if self.group is not None:
                        await asyncio.to_thread(self.group.destroy)
                finally:
                    await asyncio.to_thread(shutil.rmtree, self.format_dir, True)


class SandboxLauncher:
    """Starts sandboxes with a fixed layout, limits and seccomp filter; keeps a started one
    ready (a spare) for the next job of a slot."""

    def __init__(
        self,
        layout: sandbox.SandboxLayout,
        limits: sandbox.SandboxLimits,
        seccomp: bytes,
        job_groups: cgroups.Cgroups | None = None,
        *,
        format_root: Path | None = None,
        spares: bool = False,
    ) -> None:
        """``job_groups``: where each sandbox gets a control group of its own (None: none).
        ``format_root``: a host folder (0755; None: the system's temporary folder) where each
        sandbox gets a folder of its own for its job's format, on the file system of the
        formats (they are hard-linked in). ``spares``: start the next sandbox of a slot as
        soon as its job ends (``session``)."""
        self._layout, self._limits, self._seccomp = layout, limits, seccomp
        self._groups, self._format_root, self._use_spares = job_groups, format_root, spares
        self._driver = driver_source()
        self._spares: dict[tuple[int | None, int], _Sandbox] = {}
        self._starting: set[asyncio.Task[None]] = set()
        self._closed = False

    @contextlib.asynccontextmanager
    async def session(
        self,
        uid: int | None,
        cpu_s: int,
        *,
        format_file: Path | None = None,
        spare: bool = False,
    ) -> AsyncIterator[SandboxSession]:
        """A running sandbox as ``uid`` (when the service is root); killed on exit.

        ``cpu_s`` is the CPU-time limit of each process, at least the job's wall clock;
        ``format_file``: the job's preamble format (a file of ``format_root``'s file system),
        seen read-only at ``latex_commands.FORMAT_FILE``. ``spare``: take the sandbox started
        for this slot after its last job, if there is one, and start the next one when this
        one ends. A spare is a sandbox no job has used: nothing passes from job to job.
        Measured here: starting one (control group, bubblewrap, the driver) takes ~50 ms.
        """
        started = await self._take_spare(uid, cpu_s) if spare else None
        if started is None:
            started = await self._start(uid, cpu_s)
        try:
            if format_file is not None:
                target = started.format_dir / FORMAT_FILE.rsplit("/", 1)[1]
                try:
                    await asyncio.to_thread(os.link, format_file, target)
                except FileNotFoundError:
                    # Dropped from the folder since it was found: TeX finds no format, and
                    # the runner compiles again from scratch.
                    log.warning("format_file_gone", path=str(format_file))
            yield started.session
        finally:
            await asyncio.shield(started.close())
            if spare and self._use_spares and not self._closed:
                self._start_spare(uid, cpu_s)

    async def _take_spare(self, uid: int | None, cpu_s: int) -> _Sandbox | None:
        ready = self._spares.pop((uid, cpu_s), None)
        if ready is not None and not ready.alive:
            await asyncio.shield(ready.close())
            ready = None
        if self._use_spares:
            metrics.SANDBOX_SPARES.labels(result="hit" if ready else "miss").inc()
        return ready

    def _start_spare(self, uid: int | None, cpu_s: int) -> None:
        task = asyncio.create_task(self._keep_spare(uid, cpu_s))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _keep_spare(self, uid: int | None, cpu_s: int) -> None:
        # After the ended job's own page count and uploads (~90 ms here), not beside them:
        # starting a sandbox takes ~50 ms of CPU, and on two cores it slowed them by as much.
        await asyncio.sleep(SPARE_DELAY_S)
        if self._closed or (uid, cpu_s) in self._spares:
            return
        try:
            ready = await self._start(uid, cpu_s)
        except Exception:  # the next job starts its own sandbox, and fails with the reason
            log.warning("sandbox_spare_not_started", exc_info=True)
            return
        if self._closed or (uid, cpu_s) in self._spares:
            await asyncio.shield(ready.close())
        else:
            self._spares[(uid, cpu_s)] = ready

    async def wait_spares(self) -> None:
        """Wait for the spares being started now (tests, benchmarks)."""
        while self._starting:
            await asyncio.gather(*list(self._starting), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the spares (and the ones being started): nothing of them is left."""
        self._closed = True
        await asyncio.gather(*self._starting, return_exceptions=True)
        spares, self._spares = list(self._spares.values()), {}
        await asyncio.gather(*(ready.close() for ready in spares), return_exceptions=True)

    async def _start(self, uid: int | None, cpu_s: int) -> _Sandbox:
        group = await asyncio.to_thread(self._groups.create) if self._groups else None
        try:
            format_dir = Path(
                await asyncio.to_thread(tempfile.mkdtemp, prefix="sandbox-", dir=self._format_root)
            )
        except BaseException:
            if group is not None:
                await asyncio.shield(asyncio.to_thread(group.destroy))
            raise
        try:
            await asyncio.to_thread(format_dir.chmod, 0o755)
            return await self._started(uid, cpu_s, group, format_dir)
        except BaseException:
            if group is not None:
                await asyncio.shield(asyncio.to_thread(group.destroy))
            await asyncio.to_thread(shutil.rmtree, format_dir, True)
            raise

    async def _started(
        self,
        uid: int | None,
        cpu_s: int,
        group: cgroups.JobCgroup | None,
        format_dir: Path,
    ) -> _Sandbox:
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
                self._layout, self._limits, seccomp_read, info_write, format_dir=str(format_dir)
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
        except BaseException:
            # The caller releases the group and the folder.
            await asyncio.shield(_teardown(process, None, info_read, pipes, drain))
            raise
        return _Sandbox(session, process, child_pid, group, format_dir, info_read, pipes, drain)


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


async def _teardown(
    process: asyncio.subprocess.Process,
    child_pid: int | None,
    info_read: int,
    pipes: list[asyncio.BaseTransport],
    drain: "asyncio.Task[None]",
) -> None:
    """Kill and reap the sandbox, close the host's ends of its pipes."""
    await _kill(process, child_pid)
    os.close(info_read)
    for transport in pipes:
        transport.close()
    drain.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await drain


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
