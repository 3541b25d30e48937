"""Job control groups over a fake cgroup file system (the real ones: integration tests)."""

import os
from pathlib import Path

import pytest
from texpipe_compiler import cgroups

LIMITS = cgroups.JobLimits(memory_bytes=256 << 20, processes=32, cpus=1.5)


def v2_tree(tmp_path: Path, *, delegated: bool = True) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    base = root / "kubepods" / "pod1"
    base.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (base / "cgroup.controllers").write_text("cpu memory pids\n" if delegated else "cpu\n")
    (base / "cgroup.subtree_control").write_text("\n")
    (base / "cgroup.procs").write_text("1\n7\n")
    (base / "cgroup.type").write_text("domain\n")
    proc = tmp_path / "self-cgroup"
    proc.write_text("0::/kubepods/pod1\n")
    return root, proc


def test_v2_moves_the_service_to_a_leaf_and_delegates_the_controllers(tmp_path: Path) -> None:
    root, proc = v2_tree(tmp_path)
    groups = cgroups.detect(cgroups.CgroupMode.AUTO, LIMITS, root=root, proc_self_cgroup=proc)
    assert groups is not None
    assert groups.version == "v2"
    base = root / "kubepods" / "pod1"
    # A plain file stands for cgroup.procs: each write replaces it (the kernel appends).
    assert (base / cgroups.SERVICE_LEAF / "cgroup.procs").read_text() == "7"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    job = groups.create()
    (directory,) = job.dirs
    assert directory.parent == base
    assert (directory / "memory.max").read_text() == str(256 << 20)
    assert (directory / "pids.max").read_text() == "32"
    assert (directory / "cpu.max").read_text() == "150000 100000"
    assert job.procs_files == (str(directory / "cgroup.procs"),)
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert job.limit_hit() is cgroups.LimitHit.MEMORY
    for name in ("memory.max", "pids.max", "cpu.max", "memory.events"):
        (directory / name).unlink()  # the kernel's files vanish with the group
    job.destroy()
    assert not directory.exists()


def test_v2_never_reorganises_the_hosts_root_group(tmp_path: Path) -> None:
    root, proc = v2_tree(tmp_path)
    proc.write_text("0::/\n")
    (root / "cgroup.subtree_control").write_text("\n")
    with pytest.raises(cgroups.CgroupUnavailableError, match="host's root"):
        cgroups.detect(cgroups.CgroupMode.REQUIRED, LIMITS, root=root, proc_self_cgroup=proc)
    assert not (root / cgroups.SERVICE_LEAF).exists()


def test_v2_without_delegated_controllers(tmp_path: Path) -> None:
    root, proc = v2_tree(tmp_path, delegated=False)
    assert cgroups.detect(cgroups.CgroupMode.AUTO, LIMITS, root=root, proc_self_cgroup=proc) is None
    with pytest.raises(cgroups.CgroupUnavailableError, match="not delegated"):
        cgroups.detect(cgroups.CgroupMode.REQUIRED, LIMITS, root=root, proc_self_cgroup=proc)
    assert cgroups.detect(cgroups.CgroupMode.OFF, LIMITS, root=root, proc_self_cgroup=proc) is None


def test_v1_makes_one_group_per_hierarchy_below_the_services_own(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    own = {"memory": "/svc/a", "pids": "/", "cpu": "/"}
    for controller, path in own.items():
        base = root / controller / path.lstrip("/")
        base.mkdir(parents=True, exist_ok=True)
        (root / controller / "cgroup.procs").write_text("")
    proc = tmp_path / "self-cgroup"
    proc.write_text("9:pids:/\n4:memory:/svc/a\n1:cpu,cpuacct:/\n0::/\n")
    groups = cgroups.detect(cgroups.CgroupMode.REQUIRED, LIMITS, root=root, proc_self_cgroup=proc)
    assert groups is not None
    assert groups.version == "v1"
    job = groups.create()
    memory, pids, cpu = job.dirs
    assert memory.parent == root / "memory" / "svc" / "a"
    assert (memory / "memory.limit_in_bytes").read_text() == str(256 << 20)
    assert (pids / "pids.max").read_text() == "32"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "150000"
    (pids / "pids.events").write_text("max 2\n")
    assert job.limit_hit() is cgroups.LimitHit.PROCESSES


def test_the_enter_wrapper_joins_the_groups_then_becomes_the_command(tmp_path: Path) -> None:
    procs = [tmp_path / "a.procs", tmp_path / "b.procs"]
    job = cgroups.JobCgroup(tuple(p.parent / p.stem for p in procs), "v1")
    for directory in job.dirs:
        directory.mkdir()
    argv = cgroups.enter_argv(job)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the wrapper's pid must be the command's pid
        os.dup2(write, 1)
        os.execv(argv[0], [*argv, "/bin/sh", "-c", "echo $$"])
    os.close(write)
    _, status = os.waitpid(pid, 0)
    printed = os.read(read, 100).decode().strip()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert printed == str(pid)
    for directory in job.dirs:
        assert (directory / "cgroup.procs").read_text().strip() == str(pid)
    assert cgroups.enter_argv(None) == []


def test_stale_empty_job_groups_are_swept_and_live_or_young_ones_kept(tmp_path: Path) -> None:
    root, proc = v2_tree(tmp_path)
    groups = cgroups.detect(cgroups.CgroupMode.AUTO, LIMITS, root=root, proc_self_cgroup=proc)
    assert groups is not None
    base = root / "kubepods" / "pod1"
    old = cgroups.STALE_AFTER_S + 60
    stale, busy, young = (base / f"{cgroups.JOB_PREFIX}{n}" for n in ("stale", "busy", "young"))
    for directory in (stale, busy, young):
        directory.mkdir()
    (busy / "cgroup.procs").write_text("4242\n")
    for directory in (stale, busy):
        os.utime(directory, (directory.stat().st_atime - old, directory.stat().st_mtime - old))
    assert groups.sweep() == 1
    assert not stale.exists()
    assert busy.exists()
    assert young.exists()


def test_v2_a_restart_in_the_leaf_keeps_job_groups_beside_it(tmp_path: Path) -> None:
    root, proc = v2_tree(tmp_path)
    assert cgroups.detect(cgroups.CgroupMode.AUTO, LIMITS, root=root, proc_self_cgroup=proc)
    # The restarted service finds itself in the leaf its first start made.
    proc.write_text(f"0::/kubepods/pod1/{cgroups.SERVICE_LEAF}\n")
    again = cgroups.detect(cgroups.CgroupMode.AUTO, LIMITS, root=root, proc_self_cgroup=proc)
    assert again is not None
    (directory,) = again.create().dirs
    assert directory.parent == root / "kubepods" / "pod1", "not nested in the leaf"
