"""Runs TeX Live's ``synctex`` command in a bubblewrap sandbox and reads its answer.

The SyncTeX file was written by TeX while it ran a document: its content is the document's
to shape, and ``synctex`` is C parsing it. So each query runs in a fresh sandbox that sees
read-only ``/usr`` and a read-only folder holding only that file (and the empty PDF the
tool insists exists), with every namespace unshared (no network), no capabilities, a
cleared environment (``SYNCTEX_EDITOR``/``SYNCTEX_VIEWER`` would name commands to run; no
``-x`` is ever passed either), an address-space and CPU limit, a wall clock that kills the
process group, and a bounded answer. ``synctex`` 1.5 (TeX Live 2022) measured here answers
in ~10 ms for an 11-page article, ~0.2 s with the sandbox's setup.
"""

import asyncio
import contextlib
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

INSIDE = "/in"
"""Where the query's folder appears in the sandbox."""
SYNCTEX_FILE = "output.synctex.gz"
PDF_FILE = "output.pdf"
MAX_ANSWER_BYTES = 1024 * 1024
MAX_RECORDS = 100


class SynctexRunError(Exception):
    """The tool could not answer: it failed, overran its limits, or is not installed."""


@dataclass(frozen=True, slots=True)
class SynctexLimits:
    """Bounds of one query."""

    timeout_s: float
    memory_bytes: int
    concurrency: int


@dataclass(frozen=True, slots=True)
class SourceHit:
    """pdf -> source: the file (as the SyncTeX file names it), line (1-based), column
    (1-based; None when the engine did not record it: pdfTeX, XeTeX and LuaTeX never do)."""

    name: str
    line: int
    column: int | None


@dataclass(frozen=True, slots=True)
class BoxHit:
    """source -> pdf: a box on a page (1-based), in PDF points (1/72 in) from the page's
    top-left corner: ``h`` its left edge, ``v`` its baseline, ``height`` above it."""

    page: int
    h: float
    v: float
    width: float
    height: float


class SynctexRunner:
    """Answers SyncTeX queries, at most ``limits.concurrency`` at a time per process."""

    def __init__(
        self,
        limits: SynctexLimits,
        *,
        bwrap: str = "/usr/bin/bwrap",
        synctex: tuple[str, ...] = ("/usr/bin/synctex",),
    ) -> None:
        """``synctex``: the tool's command line before its query (a path under /usr: the
        sandbox shows nothing else; tests put a stand-in there)."""
        self._limits, self._bwrap, self._synctex = limits, bwrap, synctex
        self._slots = asyncio.Semaphore(limits.concurrency)

    async def edit(self, data: bytes, *, page: int, x: float, y: float) -> list[SourceHit]:
        """What typeset the point (``x``, ``y``) of ``page`` (points from the top-left)."""
        target = f"{page}:{x:.4f}:{y:.4f}:{INSIDE}/{PDF_FILE}"
        records = await self._query(data, ["edit", "-o", target])
        hits = []
        for record in records:
            try:
                line, column = int(record["Line"]), int(record.get("Column", "-1"))
                name = record["Input"]
            except (KeyError, ValueError):
                continue
            if line >= 1:
                hits.append(SourceHit(name, line, column + 1 if column >= 0 else None))
        return hits

    async def view(self, data: bytes, *, name: str, line: int, column: int) -> list[BoxHit]:
        """Where ``line`` (and ``column``, 0: any) of the file SyncTeX calls ``name`` is."""
        target = f"{line}:{column}:{name}"
        records = await self._query(data, ["view", "-i", target, "-o", f"{INSIDE}/{PDF_FILE}"])
        hits: list[BoxHit] = []
        for record in records:
            try:
                box = BoxHit(
                    page=int(record["Page"]),
                    h=float(record["h"]),
                    v=float(record["v"]),
                    width=float(record["W"]),
                    height=float(record["H"]),
                )
            except (KeyError, ValueError):
                continue
            if box not in hits:
                hits.append(box)
        return hits

    def _argv(self, folder: str, query: list[str]) -> list[str]:
        limits = self._limits
        cpu_s = max(1, int(limits.timeout_s) + 1)
        return [
            "prlimit", f"--as={limits.memory_bytes}", f"--cpu={cpu_s}:{cpu_s + 1}",
            "--nofile=64", "--core=0", "--",
            self._bwrap, "--unshare-all", "--unshare-user", "--disable-userns",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin",
            "--ro-bind", folder, INSIDE, "--chdir", INSIDE, "--remount-ro", "/",
            "--", *self._synctex, *query,
        ]  # fmt: skip

    async def _query(self, data: bytes, query: list[str]) -> list[dict[str, str]]:
        async with self._slots:
            with tempfile.TemporaryDirectory(prefix="texpipe-synctex-") as folder:
                await asyncio.to_thread(_lay_out, Path(folder), data)
                answer = await self._run(self._argv(folder, query))
        return parse_answer(answer)

    async def _run(self, argv: list[str]) -> bytes:
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
            )
        except OSError as exc:
            raise SynctexRunError(f"synctex could not start: {exc}") from exc
        try:
            async with asyncio.timeout(self._limits.timeout_s):
                answer = await _bounded_answer(process)
                await process.wait()
        except TimeoutError as exc:
            log.warning("synctex_timeout", timeout_s=self._limits.timeout_s)
            raise SynctexRunError(
                f"synctex did not answer within {self._limits.timeout_s:g} s"
            ) from exc
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await asyncio.shield(_reap(process))
        if process.returncode != 0:
            log.warning("synctex_failed", returncode=process.returncode)
            raise SynctexRunError(f"synctex ended with status {process.returncode}")
        return answer


async def _bounded_answer(process: asyncio.subprocess.Process) -> bytes:
    """Standard output to its end, or SynctexRunError past MAX_ANSWER_BYTES (the caller then
    kills the process group)."""
    assert process.stdout is not None
    answer = b""
    while chunk := await process.stdout.read(MAX_ANSWER_BYTES + 1 - len(answer)):
        answer += chunk
        if len(answer) > MAX_ANSWER_BYTES:
            raise SynctexRunError(f"synctex answered more than {MAX_ANSWER_BYTES} bytes")
    return answer


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Wait for a killed tool. asyncio's ``wait`` also waits for its pipe to close, which a
    reader paused on a full buffer never sees: what is left is drained (its writers are dead,
    so at most a pipe's buffer)."""
    assert process.stdout is not None
    while await process.stdout.read(65536):
        pass
    await process.wait()


def _lay_out(folder: Path, data: bytes) -> None:
    (folder / SYNCTEX_FILE).write_bytes(data)
    (folder / PDF_FILE).write_bytes(b"")  # the tool only checks that it exists
    folder.chmod(0o755)  # readable by the sandbox's user whoever it maps to


def parse_answer(answer: bytes) -> list[dict[str, str]]:
    """The records between ``SyncTeX result begin`` and ``end``: ``Key:value`` lines, a new
    record at each ``Output:`` line; at most MAX_RECORDS. Nothing when there is no result."""
    records: list[dict[str, str]] = []
    inside = False
    for raw in answer.decode("utf-8", "replace").splitlines():
        if raw == "SyncTeX result begin":
            inside = True
        elif raw == "SyncTeX result end":
            break
        elif inside:
            key, sep, value = raw.partition(":")
            if not sep:
                continue
            if key == "Output":
                if len(records) == MAX_RECORDS:
                    break
                records.append({})
            elif records:
                records[-1].setdefault(key, value)
    return records
