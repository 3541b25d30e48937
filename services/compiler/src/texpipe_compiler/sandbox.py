"""Every setting of the sandbox, in one place (pure, apart from building the seccomp filter).

Each compile runs in one bubblewrap sandbox: all namespaces unshared (no network), no
capabilities, a new session, killed with its parent, a seccomp filter, an unprivileged uid,
rlimits, and a file system made of read-only ``/usr`` and TeX trees plus a size-capped tmpfs
holding the project, ``HOME`` and the font caches of this job only. NOTES.md lists what
TeX's own switches let through and why each of these is needed.
"""

import errno
import tempfile
from dataclasses import dataclass

import pyseccomp
import structlog

from texpipe_compiler.latex_commands import (
    FORMAT_DIR,
    HOME_DIR,
    PROJECT_DIR,
    TEXMF_VAR_DIR,
    TMP_DIR,
    WORK_ROOT,
)

SYSTEM_RO_TREES = (
    "/etc/texmf",
    "/var/lib/texmf",
    "/etc/fonts",
    "/var/cache/fontconfig",
    "/etc/alternatives",
)
"""TeX's configuration, formats and font maps, fontconfig for XeTeX, and the Debian
alternatives links some programs (bibtex) are reached through; never secrets."""
HOSTNAME = "texpipe-sandbox"
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
"""The only device nodes inside: no /dev/pts (ptys), no /dev/shm, no /dev/tty."""

log = structlog.get_logger(__name__)

# Syscalls no TeX program needs; each one is a way out of, or around, the sandbox.
DENIED_SYSCALLS = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsmount", "fsconfig", "fspick", "mount_setattr", "unshare", "setns",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "quotactl", "acct",
    "swapon", "swapoff", "reboot", "syslog", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "personality", "memfd_create", "memfd_secret",
)  # fmt: skip
CRITICAL_SYSCALLS = frozenset(
    {
        "socket", "connect", "bind", "mount", "unshare", "setns", "ptrace",
        "process_vm_readv", "process_vm_writev", "pidfd_getfd", "bpf", "keyctl",
        "io_uring_setup", "userfaultfd", "open_by_handle_at", "kexec_load", "init_module",
    }
)  # fmt: skip
"""Denied syscalls whose absence from libseccomp's table would leave a known way out open:
the compiler refuses to start without them (the others are logged)."""
_CLONE_NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """rlimits of every process in the sandbox and the size of its tmpfs (CPU: per job)."""

    address_space_bytes: int
    file_size_bytes: int
    open_files: int
    processes: int
    tmpfs_bytes: int


@dataclass(frozen=True, slots=True)
class Mount:
    """A host path shown read-only inside the sandbox."""

    source: str
    dest: str


@dataclass(frozen=True, slots=True)
class SandboxLayout:
    """What the sandbox sees besides /usr and the tmpfs, and the Python that runs the driver."""

    python: str
    extra_ro_mounts: tuple[Mount, ...] = ()
    system_ro_trees: tuple[str, ...] = SYSTEM_RO_TREES


def identity_argv(uid: int | None) -> list[str]:
    """``setpriv`` drops root for ``uid`` (as uid and gid, no supplementary groups) before
    anything else runs; nothing when the service is not root (it is unprivileged already).

    No parent-death signal here: bwrap sets its own once its sandbox is set up; one set
    earlier could kill bwrap mid-setup and strand the sandbox's init, waiting for it.
    """
    if uid is None:
        return []
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


def rlimit_argv(limits: SandboxLimits, cpu_s: int) -> list[str]:
    """``prlimit`` sets the limits, then executes bwrap: every process below inherits them.

    CPU: SIGXCPU at ``cpu_s`` seconds (the runner reports it as the CPU limit), SIGKILL one
    second later for a process that ignores it (with both equal the kernel sends SIGKILL
    at once, and the CPU limit could not be told from any other kill).
    """
    return [
        "prlimit",
        f"--cpu={cpu_s}:{cpu_s + 1}",
        f"--as={limits.address_space_bytes}",
        f"--fsize={limits.file_size_bytes}",
        f"--nofile={limits.open_files}",
        f"--nproc={limits.processes}",
        "--core=0",
        "--",
    ]


def bwrap_argv(
    layout: SandboxLayout,
    limits: SandboxLimits,
    seccomp_fd: int,
    info_fd: int,
    *,
    format_dir: str | None = None,
) -> list[str]:
    """The bubblewrap command line up to (not including) the program to run.

    ``format_dir``: a host folder of this sandbox alone, mounted read-only at ``FORMAT_DIR``
    (where its job's preamble format appears; nothing else of the host's formats does).

    bwrap writes ``{"child-pid": N}`` to ``info_fd``: killing that process (the sandbox's
    pid 1) makes the kernel kill everything in the sandbox's pid namespace.
    """
    argv = [
        "bwrap",
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--hostname",
        HOSTNAME,
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for link, target in (("/bin", "usr/bin"), ("/sbin", "usr/sbin"), ("/lib", "usr/lib")):
        argv += ["--symlink", target, link]
    argv += ["--symlink", "usr/lib64", "/lib64"]
    for tree in layout.system_ro_trees:
        argv += ["--ro-bind-try", tree, tree]
    for mount in layout.extra_ro_mounts:
        argv += ["--ro-bind", mount.source, mount.dest]
    if format_dir is not None:
        argv += ["--ro-bind", format_dir, FORMAT_DIR]
    # No /proc: through /proc/self/mem a process may rewrite its own code, through /proc/1
    # reach the sandbox's init, and mountinfo shows host paths. No bwrap --dev either: it
    # mounts a devpts (/dev/pts, ptys of the host's pty budget); a few device nodes suffice.
    argv += ["--dir", "/dev"]
    for device in DEVICES:
        argv += ["--dev-bind", device, device]
    argv += [
        "--size",
        str(limits.tmpfs_bytes),
        "--tmpfs",
        WORK_ROOT,
        # Last of the mounts: bwrap's own root (with /dev in it) is a tmpfs the sandbox's uid
        # may write, uncapped (half of the host's RAM). Read-only, it leaves the size-capped
        # /work as the only place a document can write; the device nodes and /work are
        # mounts of their own and stay usable.
        "--remount-ro",
        "/",
        "--chdir",
        WORK_ROOT,
        "--seccomp",
        str(seccomp_fd),
        "--info-fd",
        str(info_fd),
    ]
    return argv


def driver_argv(layout: SandboxLayout, driver_source: str, in_fd: int, out_fd: int) -> list[str]:
    """The driver's command line: isolated Python, its protocol fds, the work root and the
    dirs to create.

    The protocol travels on ``in_fd``/``out_fd``, never on stdin/stdout: bwrap's init (the
    sandbox's pid 1) keeps stdio open but closes every other inherited fd, so only the
    driver (its child) holds the host's channel.
    """
    return [
        layout.python,
        "-I",
        "-S",
        "-B",
        "-c",
        driver_source,
        str(in_fd),
        str(out_fd),
        PROJECT_DIR,
        PROJECT_DIR,
        HOME_DIR,
        TEXMF_VAR_DIR,
        TMP_DIR,
    ]


class SeccompSetupError(RuntimeError):
    """A syscall the filter must deny is unknown to this libseccomp (the filter would not
    deny it)."""


def seccomp_program() -> bytes:
    """The BPF program bwrap loads (``--seccomp FD``): deny escapes, allow the rest.

    A name libseccomp does not know is reported at startup (``seccomp_unknown_syscalls``);
    SeccompSetupError when one of ``CRITICAL_SYSCALLS`` is among them.
    """
    sfilter = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW)
    deny = pyseccomp.ERRNO(errno.EPERM)
    unknown = [name for name in DENIED_SYSCALLS if pyseccomp.resolve_syscall(0, name) < 0]
    if unknown:
        log.warning("seccomp_unknown_syscalls", names=unknown)
    if critical := sorted(CRITICAL_SYSCALLS.intersection(unknown)):
        raise SeccompSetupError(f"libseccomp does not know the syscalls {critical}")
    for name in DENIED_SYSCALLS:
        if name not in unknown:
            sfilter.add_rule(deny, name)
    for flag in _CLONE_NAMESPACE_FLAGS:
        sfilter.add_rule(deny, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    # clone3 passes its flags in memory, out of a filter's reach: make callers fall back.
    sfilter.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    for request in (_TIOCSTI, _TIOCLINUX):
        sfilter.add_rule(deny, "ioctl", pyseccomp.Arg(1, pyseccomp.EQ, request))
    with tempfile.TemporaryFile() as handle:
        sfilter.export_bpf(handle)
        handle.seek(0)
        return handle.read()
