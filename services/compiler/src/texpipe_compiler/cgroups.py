"""One control group per compile job: memory, processes and CPU bounded by the kernel.

rlimits are per process: a document running native code can hold memory outside them
(memfd pages, tmpfs pages, kernel memory for inodes and dentries) and fork up to the
process limit. A control group bounds the whole job, whatever it runs:

- memory: every page charged to the job (anonymous, page cache, tmpfs and memfd pages, and
  kernel objects such as inodes: measured here on cgroup v1, an inode flood in a 128 MiB
  group is OOM-killed at 128 MiB) with no swap on top; when it is exceeded the kernel's OOM
  killer ends a process of the job (the job is ``failed`` / ``RESOURCE_LIMIT``);
- processes: ``pids.max`` counts the job's processes and threads alone (RLIMIT_NPROC
  counts every process of the uid, the service's own when it is not root);
- CPU: a quota of ``cpus`` CPUs, so one job cannot take the CPU of another slot.

Tmpfs pages are charged to the group of the process that first touches them: the job's
tmpfs is mounted and written by processes of the job only, so its pages are the job's.

Two kernel interfaces: cgroup v1 (one hierarchy per controller, as on this machine,
``/sys/fs/cgroup/{memory,pids,cpu}`` writable by root) and cgroup v2 with a delegated
subtree (containers, Kubernetes). Job groups are created below the service's own group,
read from ``/proc/self/cgroup``. The sandbox's first process writes its own pid into the
job's ``cgroup.procs`` files before it executes anything else (see ``enter_argv``), so every
process of the job starts inside its group. Kernel documentation: admin-guide/cgroup-v1
(memory.rst, pids.rst, sched-bwc) and admin-guide/cgroup-v2.rst.
"""

import contextlib
import enum
import errno
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CONTROLLERS = ("memory", "pids", "cpu")
SERVICE_LEAF = "texpipe-service"
"""cgroup v2: where the service's own processes move so that its group may delegate
controllers to job groups (a v2 group with controllers enabled for children holds no
process of its own)."""
JOB_PREFIX = "texpipe-job-"
CPU_PERIOD_US = 100_000
KILL_ROUNDS = 50
STALE_AFTER_S = 300.0
"""An empty job group this old belongs to no live job (a job's first process enters its group
at once): one left by a compiler that was killed, swept at startup."""
KILL_PAUSE_S = 0.02
ENTER_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
"""Writes the shell's own pid into each cgroup.procs named before ``--``, then becomes the
command after it (same pid). Only paths texpipe made reach it, as arguments: never a name
from a document."""


class CgroupMode(enum.StrEnum):
    """``auto``: use control groups when this process may create them; ``required``: refuse
    to start without them; ``off``: rlimits only."""

    AUTO = "auto"
    REQUIRED = "required"
    OFF = "off"


class CgroupUnavailableError(RuntimeError):
    """Control groups were required and this process cannot create them; says why."""


class LimitHit(enum.Enum):
    """The kernel limit a job ran into."""

    MEMORY = "memory"
    PROCESSES = "processes"


@dataclass(frozen=True, slots=True)
class JobLimits:
    """What one job's group allows."""

    memory_bytes: int
    processes: int
    cpus: float


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii", errors="replace")


def _write(path: Path, value: str) -> None:
    with path.open("w", encoding="ascii") as handle:
        handle.write(value)


def _counter(path: Path, name: str) -> int:
    """The value of ``name`` in a flat-keyed file (``oom_kill 1``); 0 when absent."""
    with contextlib.suppress(OSError):
        for line in _read(path).splitlines():
            key, _, value = line.partition(" ")
            if key == name and value.strip().isdigit():
                return int(value)
    return 0


def _pids(procs: Path) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in _read(procs).split() if p.isdigit()]
    return []


def _rmdir(path: Path) -> None:
    """Remove an empty group, waiting a little for the last exits to be accounted."""
    for _ in range(KILL_ROUNDS):
        try:
            path.rmdir()
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(KILL_PAUSE_S)
        else:
            return
    log.error("cgroup_not_removed", path=str(path))


class JobCgroup:
    """The group(s) of one job: one directory per hierarchy (one on v2, three on v1)."""

    def __init__(self, dirs: tuple[Path, ...], version: str) -> None:
        self.dirs, self.version = dirs, version

    @property
    def procs_files(self) -> tuple[str, ...]:
        """The ``cgroup.procs`` files the sandbox's first process writes its pid into."""
        return tuple(str(d / "cgroup.procs") for d in self.dirs)

    def limit_hit(self) -> LimitHit | None:
        """The limit the job ran into, if any: an OOM kill, then a refused fork (blocking)."""
        for directory in self.dirs:
            oom = directory / ("memory.events" if self.version == "v2" else "memory.oom_control")
            if oom.exists() and _counter(oom, "oom_kill") > 0:
                return LimitHit.MEMORY
        for directory in self.dirs:
            events = directory / "pids.events"
            if events.exists() and _counter(events, "max") > 0:
                return LimitHit.PROCESSES
        return None

    def destroy(self) -> None:
        """Kill whatever is still in the group, then remove it (blocking; idempotent).

        The sandbox's pid namespace normally took every process with it already; this is the
        kernel's own list, so nothing of the job outlives the job.
        """
        kill_file = self.dirs[0] / "cgroup.kill"
        if self.version == "v2" and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        for _ in range(KILL_ROUNDS):
            alive = {pid for d in self.dirs for pid in _pids(d / "cgroup.procs")}
            if not alive:
                break
            for pid in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(KILL_PAUSE_S)
        for directory in self.dirs:
            _rmdir(directory)


class Cgroups:
    """Creates job groups below the service's own group(s), on cgroup v1 or v2."""

    def __init__(self, version: str, bases: dict[str, Path], limits: JobLimits) -> None:
        """``bases``: controller name → the service's group directory for it (v2: one
        directory under every name)."""
        self.version, self._bases, self._limits = version, bases, limits

    @property
    def where(self) -> list[str]:
        """The parent directories of the job groups (for logs and /ready)."""
        return sorted({str(p) for p in self._bases.values()})

    def check(self) -> None:
        """For /ready: the parent groups are still there and writable."""
        for path in self._bases.values():
            if not os.access(path, os.W_OK):
                raise RuntimeError(f"{path} is no longer writable")

    def sweep(self) -> int:
        """Remove empty job groups older than STALE_AFTER_S (blocking); how many went."""
        removed, now = 0, time.time()
        for base in set(self._bases.values()):
            for directory in base.glob(JOB_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    old = now - directory.stat().st_mtime > STALE_AFTER_S
                    if old and not _pids(directory / "cgroup.procs"):
                        directory.rmdir()
                        removed += 1
        return removed

    def create(self) -> JobCgroup:
        """A new group with the job limits (blocking: a few small writes)."""
        name = JOB_PREFIX + secrets.token_hex(8)
        if self.version == "v2":
            made = JobCgroup((self._bases["memory"] / name,), "v2")
        else:
            made = JobCgroup(tuple(self._bases[c] / name for c in CONTROLLERS), "v1")
        try:
            for directory in made.dirs:
                directory.mkdir(mode=0o755)
            self._apply(made)
        except BaseException:
            made.destroy()
            raise
        return made

    def _apply(self, group: JobCgroup) -> None:
        limits = self._limits
        quota = str(max(1000, int(limits.cpus * CPU_PERIOD_US)))
        if self.version == "v2":
            (directory,) = group.dirs
            _write(directory / "memory.max", str(limits.memory_bytes))
            if (directory / "memory.swap.max").exists():
                _write(directory / "memory.swap.max", "0")
            _write(directory / "pids.max", str(limits.processes))
            _write(directory / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        memory, pids, cpu = group.dirs
        _write(memory / "memory.limit_in_bytes", str(limits.memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting is on
            _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_bytes))
        _write(pids / "pids.max", str(limits.processes))
        _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", quota)


def enter_argv(group: JobCgroup | None) -> list[str]:
    """The command line prefix that puts the sandbox into ``group`` before it starts."""
    if group is None:
        return []
    return ["/bin/sh", "-c", ENTER_SCRIPT, "texpipe-cgroup-enter", *group.procs_files, "--"]


def _own_groups(proc_self_cgroup: Path) -> dict[str, str]:
    """Hierarchy key ("" for v2, else each v1 controller name) → this process's group path."""
    groups: dict[str, str] = {}
    for line in _read(proc_self_cgroup).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            groups[""] = path
        for controller in filter(None, controllers.split(",")):
            groups.setdefault(controller, path)
    return groups


def _v1_bases(root: Path, own: dict[str, str]) -> dict[str, Path]:
    bases: dict[str, Path] = {}
    for controller in CONTROLLERS:
        mount = root / controller
        if controller not in own or not (mount / "cgroup.procs").exists():
            raise CgroupUnavailableError(f"no cgroup v1 {controller} hierarchy at {mount}")
        base = mount / own[controller].lstrip("/")
        if not os.access(base, os.W_OK):
            raise CgroupUnavailableError(f"{base} is not writable by this process")
        bases[controller] = base
    return bases


def _v2_base(root: Path, own: dict[str, str]) -> Path:
    """The service's v2 group, made able to hold job groups with the three controllers."""
    base = root / own.get("", "/").lstrip("/")
    if base.name == SERVICE_LEAF:
        # A restart inside the same group: this process already lives in the leaf an earlier
        # start made, so the delegated group (where job groups are) is its parent.
        base = base.parent
    if not (base / "cgroup.type").exists():
        # Only the host's root group lacks cgroup.type: moving every process of the machine
        # is not the compiler's to do (in a container, its namespace's root has the file).
        raise CgroupUnavailableError(f"{base} is the host's root control group, not delegated")
    available = set(_read(base / "cgroup.controllers").split())
    missing = [c for c in CONTROLLERS if c not in available]
    if missing:
        raise CgroupUnavailableError(f"{base} lacks the controllers {missing} (not delegated)")
    if not os.access(base / "cgroup.subtree_control", os.W_OK):
        raise CgroupUnavailableError(f"{base} is not delegated to this process (not writable)")
    enabled = set(_read(base / "cgroup.subtree_control").split())
    if not set(CONTROLLERS) <= enabled:
        # "No internal processes": move the service's processes to a leaf first.
        leaf = base / SERVICE_LEAF
        leaf.mkdir(mode=0o755, exist_ok=True)
        for pid in _pids(base / "cgroup.procs"):
            with contextlib.suppress(ProcessLookupError):
                _write(leaf / "cgroup.procs", str(pid))
        _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in CONTROLLERS))
    return base


def detect(
    mode: CgroupMode,
    limits: JobLimits,
    *,
    root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = PROC_SELF_CGROUP,
) -> Cgroups | None:
    """The job groups this process can make (blocking; at startup), or None without them.

    cgroup v2 when ``root`` is a v2 mount, else the v1 hierarchies. In ``auto`` mode a
    missing or read-only hierarchy gives None (logged as a warning);
    CgroupUnavailableError in ``required`` mode.
    """
    if mode is CgroupMode.OFF:
        return None
    try:
        own = _own_groups(proc_self_cgroup)
        if (root / "cgroup.controllers").exists():
            base = _v2_base(root, own)
            return Cgroups("v2", dict.fromkeys(CONTROLLERS, base), limits)
        return Cgroups("v1", _v1_bases(root, own), limits)
    except (CgroupUnavailableError, OSError) as exc:
        if mode is CgroupMode.REQUIRED:
            raise CgroupUnavailableError(f"control groups are required: {exc}") from exc
        log.warning("cgroups_unavailable", reason=str(exc))
        return None
