"""Memory and CPU of every process a command starts, grouped by program (docs/scaling.md).

Runs the command, samples its process tree every ``--interval`` seconds from /proc, and prints
per program (a Python process is named by its ``-m`` module, e.g. ``texpipe_api``; any other
by its executable, e.g. ``pdflatex``, ``bwrap``, ``weed``):

- ``processes``: the most processes of that program alive at one sample;
- ``peak_rss_mib``: the highest sum of their resident set sizes at one sample (RSS counts shared
  pages in each process, so this errs high; a sandbox's tmpfs is not in it);
- ``tree_cpu_s`` (whole run): user + system seconds of every process of the tree, exactly
  (this process is their subreaper and reaps them all);
- ``cpu_s``: user + system seconds of those processes at their last sample, and
  ``children_cpu_s``: what their reaped children used (for ``texpipe_compiler``, its
  sandboxes and TeX), read from /proc/PID/stat.

    .venv/bin/python bench/footprint.py [--interval 0.2] -- COMMAND [ARG ...]

Processes shorter than the interval can be missed in the counts and RSS; their CPU is still
in their parent's ``children_cpu_s`` once reaped. Exits with the command's status; the table
goes to stderr, and as JSON to bench/results/footprint-<time>.json.
"""

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of the tree become our children (bubblewrap leaves its sandbox's pid 1 to be
    reaped by others), so that their CPU time reaches ``tree_cpu_s`` when we reap them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_all() -> None:
    """Wait for every remaining descendant reparented to us."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


@dataclass
class Program:
    """What one program of the tree used, over the whole run."""

    processes: int = 0
    peak_rss_mib: float = 0.0
    cpu_s: float = 0.0
    children_cpu_s: float = 0.0


def program_name(pid: int) -> str:
    """``texpipe_api`` for ``python -m texpipe_api``, else the executable's base name."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [w.decode(errors="replace") for w in argv if w]
    if words and Path(words[0]).name.startswith("python") and "-m" in words[:-1]:
        return words[words.index("-m") + 1]
    return Path(words[0]).name if words else "?"


def tree(root: int) -> list[int]:
    """``root`` and every process descending from it, now."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def sample(programs: dict[str, Program], cpu: dict[int, tuple[str, float, float]]) -> None:
    """Add one sample of this process's descendants (never a pid reused by another process:
    once reaped, the command is no longer our child)."""
    rss: dict[str, float] = {}
    count: dict[str, int] = {}
    for pid in tree(os.getpid())[1:]:
        try:
            name = program_name(pid)
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue  # it ended between the listing and the read
        own = (int(fields[11]) + int(fields[12])) / TICK
        children = (int(fields[13]) + int(fields[14])) / TICK
        cpu[pid] = (name, own, children)
        rss[name] = rss.get(name, 0.0) + resident / 2**20
        count[name] = count.get(name, 0) + 1
    for name, mib in rss.items():
        program = programs.setdefault(name, Program())
        program.peak_rss_mib = max(program.peak_rss_mib, round(mib, 1))
        program.processes = max(program.processes, count[name])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    programs: dict[str, Program] = {}
    cpu: dict[int, tuple[str, float, float]] = {}
    become_subreaper()
    process = subprocess.Popen(command)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(args.interval):
            sample(programs, cpu)

    watcher = threading.Thread(target=watch, daemon=True)
    started = time.perf_counter()
    watcher.start()
    status = process.wait()
    done.set()
    watcher.join()
    reap_all()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    for name, own, children in cpu.values():
        program = programs[name]
        program.cpu_s = round(program.cpu_s + own, 2)
        program.children_cpu_s = round(program.children_cpu_s + children, 2)
    report = {
        "command": command,
        "seconds": round(time.perf_counter() - started, 1),
        "tree_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "programs": {n: asdict(p) for n, p in sorted(programs.items())},
    }
    print(f"{'program':28}{'procs':>6}{'peak RSS MiB':>14}{'cpu s':>9}{'children cpu s':>16}",
          file=sys.stderr)  # fmt: skip
    for name, p in sorted(programs.items(), key=lambda item: -item[1].peak_rss_mib):
        print(f"{name:28}{p.processes:>6}{p.peak_rss_mib:>14.1f}{p.cpu_s:>9.2f}"
              f"{p.children_cpu_s:>16.2f}", file=sys.stderr)  # fmt: skip
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"footprint-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"CPU of the whole tree: {report['tree_cpu_s']} s", file=sys.stderr)
    print(f"written: {path.relative_to(ROOT)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
