"""Every sandbox setting, as bwrap and prlimit will receive it."""

import pytest
from texpipe_compiler import sandbox
from texpipe_compiler.latex_commands import WORK_ROOT

LIMITS = sandbox.SandboxLimits(
    address_space_bytes=3 << 30,
    file_size_bytes=64 << 20,
    open_files=256,
    processes=64,
    tmpfs_bytes=512 << 20,
)
LAYOUT = sandbox.SandboxLayout(
    python="/usr/bin/python3", extra_ro_mounts=(sandbox.Mount("/srv/cache", "/opt/cache"),)
)


def test_rlimits_cover_cpu_memory_files_and_processes() -> None:
    assert sandbox.identity_argv(None) == []
    assert sandbox.identity_argv(64001) == [
        "setpriv",
        "--reuid=64001",
        "--regid=64001",
        "--clear-groups",
        "--",
    ]
    argv = sandbox.rlimit_argv(LIMITS, cpu_s=11)
    assert argv[0] == "prlimit"
    assert argv[-1] == "--"
    assert {
        "--cpu=11:12",
        f"--as={3 << 30}",
        f"--fsize={64 << 20}",
        "--nofile=256",
        "--nproc=64",
        "--core=0",
    } <= set(argv)


def test_bwrap_isolates_everything_and_shows_only_what_tex_needs() -> None:
    argv = sandbox.bwrap_argv(LAYOUT, LIMITS, seccomp_fd=7, info_fd=8)
    for flag in (
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--seccomp") + 1] == "7"
    assert argv[argv.index("--info-fd") + 1] == "8"
    binds = [
        (argv[i], argv[i + 1], argv[i + 2])
        for i, a in enumerate(argv)
        if a in {"--bind", "--bind-try", "--ro-bind", "--ro-bind-try"}
    ]
    assert all(kind.startswith("--ro-bind") for kind, _, _ in binds), (
        "nothing of the host is writable"
    )
    sources = {source for _, source, _ in binds}
    assert sources == {"/usr", "/srv/cache", *sandbox.SYSTEM_RO_TREES}
    assert not any(s in sources for s in ("/", "/etc", "/tmp", "/home", "/root", "/var"))
    size = argv.index("--size")
    assert argv[size + 1 : size + 4] == [str(512 << 20), "--tmpfs", WORK_ROOT]
    assert "--share-net" not in argv


def test_only_the_work_tmpfs_is_writable() -> None:
    """/ and /dev are made read-only after every other mount (a remount applies to what is
    mounted by then, and mounts made later would land in a read-only tree)."""
    argv = sandbox.bwrap_argv(LAYOUT, LIMITS, seccomp_fd=7, info_fd=8)
    mount_ops = [
        i
        for i, a in enumerate(argv)
        if a
        in {"--ro-bind", "--ro-bind-try", "--bind", "--dev-bind", "--dir", "--tmpfs", "--symlink"}
    ]
    remounts = [argv[i + 1] for i, a in enumerate(argv) if a == "--remount-ro"]
    assert remounts == ["/"]
    assert argv.index("--remount-ro") > max(mount_ops)


def test_no_procfs_and_no_ptys_inside() -> None:
    argv = sandbox.bwrap_argv(LAYOUT, LIMITS, seccomp_fd=7, info_fd=8)
    assert "--proc" not in argv
    assert "--dev" not in argv  # it would mount a devpts at /dev/pts
    devices = [argv[i + 1] for i, a in enumerate(argv) if a == "--dev-bind"]
    assert devices == list(sandbox.DEVICES)


def test_the_driver_runs_isolated_python_on_its_own_fds() -> None:
    argv = sandbox.driver_argv(LAYOUT, "print(1)", in_fd=5, out_fd=9)
    assert argv[:5] == ["/usr/bin/python3", "-I", "-S", "-B", "-c"]
    assert argv[5:8] == ["print(1)", "5", "9"]


def test_the_seccomp_program_is_built() -> None:
    program = sandbox.seccomp_program()
    assert len(program) % 8 == 0  # struct sock_filter is 8 bytes


def test_an_unknown_critical_syscall_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "DENIED_SYSCALLS", (*sandbox.DENIED_SYSCALLS, "no_such_call"))
    sandbox.seccomp_program()  # unknown but not critical: reported, not fatal
    monkeypatch.setattr(sandbox, "CRITICAL_SYSCALLS", frozenset({"socket", "no_such_call"}))
    with pytest.raises(sandbox.SeccompSetupError, match="no_such_call"):
        sandbox.seccomp_program()
