"""Run one compile inside a sandbox: write the project, drive the passes, read the outputs.

The engines are driven directly (BibTeX or Biber, makeindex or xindy when the document asks;
another pass while the auxiliary files change, up to ``max_passes``), in the main file's
folder. Tectonic runs once: it loops by itself.
Timeouts are the caller's business: cancelling ``compile`` kills the sandbox.
"""

import asyncio
import dataclasses
import enum
import functools
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from texpipe_contracts.v1 import Engine

from texpipe_compiler import latex_commands as cmd
from texpipe_compiler import passes
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.cgroups import LimitHit
from texpipe_compiler.errors import SandboxError
from texpipe_compiler.incremental import AuxSeed, inputs_salt, seed_from, usable_project
from texpipe_compiler.preamble import dump_inputs, dump_line, undumpable_reason
from texpipe_compiler.sandbox_launcher import SandboxLauncher
from texpipe_compiler.sandbox_session import RunResult, SandboxSession

log = structlog.get_logger(__name__)

SIGXFSZ = 25
SIGXCPU = 24
_GENERATED_OUTPUTS = (".pdf", ".log", ".xdv", ".synctex", ".synctex.gz", ".fls")
SYNCTEX_PLAIN_PER_GZIP = 8
"""An uncompressed SyncTeX file is read up to this times the cap on the compressed one (the
corpus's article: 815 KB plain, 142 KB gzip)."""
GZIP_MAGIC = b"\x1f\x8b"
MAX_FLS_BYTES = 4 * 1024 * 1024
"""A pass's .fls read for the incremental check (a line per file opened; over it: another
pass)."""
MAX_FORMAT_BYTES = 128 * 1024 * 1024
"""A dumped format (compressed; pdflatex with TikZ ~10 MB, the base format 8 MB)."""


class RunStatus(enum.Enum):
    """How the TeX side of a compile ended."""

    OK = "ok"
    FAILED = "failed"
    NO_OUTPUT = "no_output"
    TOO_LARGE = "too_large"
    CPU_LIMIT = "cpu_limit"
    RESOURCE_LIMIT = "resource_limit"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class RunnerLimits:
    """Bounds of one compile besides the sandbox's rlimits."""

    max_passes: int
    max_pdf_bytes: int
    max_log_bytes: int
    output_cap_bytes: int
    max_aux_bytes: int
    max_aux_files: int
    max_aux_total_bytes: int
    """Auxiliary bytes read out of the sandbox per pass, all files together."""
    max_synctex_bytes: int = 32 * 1024 * 1024
    """The largest ``.synctex.gz`` kept (compressed); a larger one is left out, the compile
    still succeeds. 32 MiB holds ~2000 pages of a dense article (~13 KB per page measured)."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a compile produced: the PDF when it succeeded, the log text in any case, and
    the control-group limit it ran into (``RESOURCE_LIMIT``)."""

    status: RunStatus
    pdf: bytes | None
    log: bytes
    output: bytes
    passes: int
    limit: LimitHit | None = None
    synctex: bytes | None = None
    """The SyncTeX file of a successful run as the engine wrote it, if within the cap: gzip
    (Tectonic) or plain (TeX engines; ``LatexRunner.compress_synctex`` makes the file to
    keep)."""
    bbl: bytes | None = None
    """The main file's ``.bbl`` of a successful run, if there is one (authors send it to arXiv)."""
    seeded: bool = False
    """It started from an earlier compile's auxiliary state."""
    format_used: bool = False
    fell_back: bool = False
    """A start from state or format failed, and this is the compile from scratch after it."""
    state: AuxSeed | None = None
    """The auxiliary state to keep for the next compile (passes settled), if any."""


@dataclass(frozen=True, slots=True)
class StartPoint:
    """What a compile may start from instead of nothing (``incremental``, ``preamble``)."""

    seed: AuxSeed | None = None
    fmt: Path | None = None
    """The preamble's format: an uncompressed file of the host, mounted read-only at
    ``latex_commands.FORMAT_FILE`` (``format_files``)."""


@dataclass(frozen=True, slots=True)
class DumpOutcome:
    """A preamble dumped twice, under two clocks: the format, what it read, or why not."""

    fmt: bytes | None
    inputs: dict[str, str]
    reason: str | None


def project_files_for(main: cmd.MainFile, files: Sequence[ProjectFile]) -> list[ProjectFile]:
    """The files to write: generated outputs the project ships are left out (a stale PDF
    must never pass for this compile's). A shipped ``<main>.bbl`` stays: it is the job's."""
    stem = main.in_project(main.job_name)
    reserved = {stem + suffix for suffix in _GENERATED_OUTPUTS}
    return [f for f in files if f.path not in reserved]


class LatexRunner:
    """Compiles projects in fresh sandboxes."""

    def __init__(
        self,
        launcher: SandboxLauncher,
        limits: RunnerLimits,
        luatex_cache: str | None = None,
    ) -> None:
        """``luatex_cache``: where a prepared luaotfload cache is mounted in the sandbox."""
        self._launcher, self._limits, self._luatex_cache = launcher, limits, luatex_cache
        self._fontconfig_file: str | None = None

    def use_luatex_cache(self, mount_point: str) -> None:
        """From now on, LuaLaTeX jobs start from the prepared font cache at ``mount_point``."""
        self._luatex_cache = mount_point

    def use_fontconfig(self, config_file: str) -> None:
        """From now on, every TeX program reads fontconfig's configuration from
        ``config_file`` (a path in the sandbox), not the system's."""
        self._fontconfig_file = config_file

    async def compile(
        self,
        files: Sequence[ProjectFile],
        main_file: str,
        engine: Engine,
        *,
        uid: int | None,
        cpu_s: int,
        source_date_epoch: int,
        start: StartPoint | None = None,
    ) -> RunOutcome:
        """Compile ``main_file`` of ``files`` with ``engine``; ``source_date_epoch`` (seconds)
        is the date TeX prints for ``\\today`` and writes into the PDF.

        ``start``: the auxiliary state and the preamble format to start from. When a compile
        that started from them does not succeed, it runs again from scratch, in a fresh
        sandbox: a stale state (a package removed from the preamble leaves .aux lines that
        now fail) never turns into an outcome a compile from scratch would not have.
        """
        main = cmd.MainFile(main_file)
        if start is not None and (engine not in cmd.TEX_ENGINES or not usable_project(files)):
            start = None
        outcome = await self._compile_once(files, main, engine, uid, cpu_s, source_date_epoch,
                                           start)  # fmt: skip
        if start is None or outcome.status is RunStatus.OK:
            return outcome
        log.info("incremental_fallback", status=outcome.status.value,
                 seeded=outcome.seeded, format_used=outcome.format_used)  # fmt: skip
        scratch = await self._compile_once(files, main, engine, uid, cpu_s, source_date_epoch,
                                           None)  # fmt: skip
        return dataclasses.replace(scratch, fell_back=True)

    async def _compile_once(
        self,
        files: Sequence[ProjectFile],
        main: cmd.MainFile,
        engine: Engine,
        uid: int | None,
        cpu_s: int,
        source_date_epoch: int,
        start: StartPoint | None,
    ) -> RunOutcome:
        to_write = project_files_for(main, files)
        with_format = start is not None and start.fmt is not None
        env = cmd.tex_environment(source_date_epoch, with_format=with_format)
        if self._fontconfig_file:
            env["FONTCONFIG_FILE"] = self._fontconfig_file
        fmt = start.fmt if start is not None else None
        async with self._launcher.session(uid, cpu_s, format_file=fmt, spare=True) as session:
            job = _Job(session, main, engine, [f.path for f in to_write], env,
                       salt=await asyncio.to_thread(inputs_salt, to_write, main),
                       seed=start.seed if start is not None else None,
                       with_format=with_format)  # fmt: skip
            extra = list(job.seed.files) if job.seed is not None else []
            try:
                outcome = await self._compile_in(job, [*to_write, *extra])
            except SandboxError as exc:
                # The sandbox started, then broke the protocol or died: what ran inside it
                # (the document) did that. An outcome, not a reason to redeliver.
                log.warning("sandbox_aborted", reason=str(exc))
                outcome = RunOutcome(RunStatus.ABORTED, None, b"", str(exc).encode(), 0)
            outcome = dataclasses.replace(
                outcome, seeded=job.seed is not None, format_used=with_format
            )
            if outcome.status is RunStatus.OK:
                return outcome
            # A job the kernel stopped at its memory or process limit failed because of it.
            limit = await session.limit_hit()
            if limit is None:
                return outcome
            log.warning("sandbox_limit_reached", limit=limit.value)
            return dataclasses.replace(outcome, status=RunStatus.RESOURCE_LIMIT, limit=limit)

    async def _compile_in(self, job: "_Job", to_write: list[ProjectFile]) -> RunOutcome:
        session, names = job.sandbox, cmd.output_names(job.main)
        await session.put(to_write)
        if job.engine is Engine.LUALATEX and self._luatex_cache:
            # A private copy: a job can poison only its own font cache (NOTES.md).
            await session.copytree(self._luatex_cache, cmd.TEXMF_VAR_DIR)
        state: AuxSeed | None = None
        if job.engine is Engine.TECTONIC:
            result, count = await self._run(job, cmd.engine_argv(job.engine, job.main)), 1
        else:
            result, count, state = await self._passes(job, names)
        log_read = await session.read(
            names.log, max_bytes=self._limits.max_log_bytes, truncate=True
        )
        log_bytes = log_read.data if log_read.status in {"ok", "truncated"} else b""
        status = _status_of(result)
        pdf: bytes | None = None
        if status is RunStatus.OK:
            read = await session.read(names.pdf, max_bytes=self._limits.max_pdf_bytes)
            if read.status == "ok" and read.data:
                pdf = read.data
            elif read.status == "too_large":
                status = RunStatus.TOO_LARGE
            else:
                status = RunStatus.NO_OUTPUT
        if status is not RunStatus.OK:
            return RunOutcome(status, pdf, log_bytes, result.output, count)
        synctex, bbl = await self._companions(session, names, job.engine)
        return RunOutcome(
            status, pdf, log_bytes, result.output, count, synctex=synctex, bbl=bbl, state=state
        )

    async def _companions(
        self, session: SandboxSession, names: cmd.OutputNames, engine: Engine
    ) -> tuple[bytes | None, bytes | None]:
        """The SyncTeX file (under its cap) and the ``.bbl`` beside the PDF, if any.

        Neither decides the outcome: one that is missing, too large or (from Tectonic) not
        gzip is left out.
        """
        synctex: bytes | None = None
        tectonic = engine is Engine.TECTONIC
        cap = self._limits.max_synctex_bytes * (1 if tectonic else SYNCTEX_PLAIN_PER_GZIP)
        read = await session.read(names.synctex_gz if tectonic else names.synctex, max_bytes=cap)
        if read.status == "ok" and (read.data.startswith(GZIP_MAGIC) or not tectonic):
            synctex = read.data or None
        elif read.status == "too_large":
            log.warning("synctex_skipped", reason="over the cap", cap_bytes=cap)
        elif read.status == "ok":
            log.warning("synctex_skipped", reason="not gzip")
        bbl = await session.read(names.bbl, max_bytes=self._limits.max_aux_bytes)
        return synctex, (bbl.data if bbl.status == "ok" and bbl.data else None)

    def compress_synctex(self, data: bytes) -> bytes | None:
        """The SyncTeX file to keep: ``data`` gzip-compressed (as it is when it is gzip
        already), reproducibly (no time in the header); None when that is over the cap.
        Blocks (~16 ms per MB here): call it in a thread, beside other work."""
        packed = data if data.startswith(GZIP_MAGIC) else gzip.compress(data, mtime=0)
        if len(packed) > self._limits.max_synctex_bytes:
            log.warning("synctex_skipped", reason="over the cap",
                        cap_bytes=self._limits.max_synctex_bytes)  # fmt: skip
            return None
        return packed

    async def _run(self, job: "_Job", argv: list[str]) -> RunResult:
        return await job.sandbox.run(
            argv, job.env, output_cap=self._limits.output_cap_bytes, cwd=job.main.folder
        )

    async def _aux_files(self, session: SandboxSession) -> passes.AuxFiles:
        """The auxiliary files, read up to the per-pass budget (a document sizes them)."""
        listed = await session.list(passes.AUX_SUFFIXES, max_files=self._limits.max_aux_files)
        found: dict[str, bytes] = {}
        budget = self._limits.max_aux_total_bytes
        complete = len(listed) < self._limits.max_aux_files  # at the cap, more may be there
        for path in listed:
            room = min(self._limits.max_aux_bytes, budget)
            if room <= 0:
                complete = False
                break
            read = await session.read(path, max_bytes=room, truncate=True)
            if read.status == "truncated" and room < self._limits.max_aux_bytes:
                complete = False  # cut by the budget, not by the per-file cap
            if read.status in {"ok", "truncated"}:
                found[path] = read.data
                budget -= len(read.data)
        return passes.AuxFiles(found, frozenset(listed), complete)

    async def _passes(
        self, job: "_Job", names: cmd.OutputNames
    ) -> tuple[RunResult, int, AuxSeed | None]:
        """Passes until the auxiliary files settle (or the bound); the state to keep when
        they did."""
        session = job.sandbox
        # Hashing and matching what a document wrote runs in a thread: never on the loop.
        before = await asyncio.to_thread(passes.aux_state, await self._aux_files(session))
        bib_done = job.seed.bib_done if job.seed is not None else None
        tools_done = dict(job.seed.tools_done) if job.seed is not None else {}
        argv = cmd.engine_argv(job.engine, job.main, with_format=job.with_format)
        count = 0
        while True:
            count += 1
            result = await self._run(job, argv)
            if result.exit_code != 0 or count >= self._limits.max_passes:
                return result, count, None
            aux = await self._aux_files(session)
            ran = False
            due = await self._due_bibliography(job, aux, names, bib_done)
            if due is not None:
                bib_done, ran = due.signature, True
                tool_argv = cmd.biber_argv if due.tool == "biber" else cmd.bibtex_argv
                await self._run(job, tool_argv(job.main))
            tools = await asyncio.to_thread(
                passes.index_runs, aux, job.main, project_paths=job.paths, done=tools_done,
                salt=job.salt,
            )  # fmt: skip
            for tool in tools:
                tools_done[tool.key], ran = tool.signature, True
                await self._run(job, tool.argv)
            if ran:
                aux = await self._aux_files(session)
            after = await asyncio.to_thread(passes.aux_state, aux)
            log = await session.read(names.log, max_bytes=self._limits.max_log_bytes, truncate=True)
            rerun = await asyncio.to_thread(passes.rerun_requested, log.data)
            if count == 1 and job.seed is not None and not rerun:
                rerun = await self._read_back_uncovered(job, aux)
            if after.settled_since(before) and not rerun:
                seed = await asyncio.to_thread(seed_from, aux, job.paths, bib_done, tools_done)
                return result, count, seed
            before = after

    async def _read_back_uncovered(self, job: "_Job", aux: passes.AuxFiles) -> bool:
        """Whether the first pass of a seeded compile read a file an earlier compile wrote
        that the auxiliary comparison does not cover (then it cannot be the last pass)."""
        fls_path = job.main.in_project(f"{job.main.job_name}.fls")
        fls = await job.sandbox.read(fls_path, max_bytes=MAX_FLS_BYTES)
        if fls.status != "ok":
            return True
        uncovered = await asyncio.to_thread(
            passes.read_back_uncovered, fls.data, job.main, job.paths, aux.listed
        )
        if uncovered:
            log.info("incremental_uncovered_reads", files=uncovered[:5])
        return bool(uncovered)

    async def _due_bibliography(
        self,
        job: "_Job",
        aux: passes.AuxFiles,
        names: cmd.OutputNames,
        done: str | None,
    ) -> passes.BibliographyRun | None:
        """The bibliography run that is due, if one is."""
        bcf = await job.sandbox.read(names.bcf, max_bytes=self._limits.max_aux_bytes)
        return await asyncio.to_thread(
            functools.partial(
                passes.bibliography_due,
                aux,
                bcf.data if bcf.status == "ok" else None,
                main=job.main,
                project_paths=job.paths,
                done=done,
                salt=job.salt,
            )
        )

    async def dump_format(
        self,
        files: Sequence[ProjectFile],
        main_file: str,
        engine: Engine,
        *,
        uid: int | None,
        cpu_s: int,
        end_line: int,
    ) -> DumpOutcome:
        """Dump the preamble of ``main_file`` twice, under two clocks, in one fresh sandbox.

        The format is kept only when both dumps succeeded, stopped at ``end_line`` of the main
        file (where a compile loading the format starts reading it), are byte-identical (a
        preamble that captured the date, ``\\edef\\x{\\the\\year}``, gives two different
        ones) and read nothing but project and installation files.
        """
        main = cmd.MainFile(main_file)
        to_write = project_files_for(main, files)
        env = cmd.tex_environment(cmd.DUMP_EPOCH)
        if self._fontconfig_file:
            env["FONTCONFIG_FILE"] = self._fontconfig_file
        stem = f"{cmd.DUMP_DIR}/{main.job_name}"
        async with self._launcher.session(uid, cpu_s) as session:
            job = _Job(session, main, engine, [f.path for f in to_write], env)
            own = [
                ProjectFile(cmd.DUMP_WRAPPER, cmd.dump_wrapper(main)),
                ProjectFile(f"{cmd.DUMP_DIR}/.keep", b""),
            ]
            await session.put([*to_write, *own])
            dumps: list[bytes] = []
            for clock in cmd.DUMP_CLOCKS:
                result = await self._run(job, cmd.dump_argv(engine, main, clock))
                log_read = await session.read(f"{stem}.log", max_bytes=self._limits.max_log_bytes,
                                              truncate=True)  # fmt: skip
                if result.exit_code != 0:
                    return DumpOutcome(None, {}, undumpable_reason(log_read.data))
                if dump_line(log_read.data) != end_line:
                    return DumpOutcome(None, {}, "preamble_end")
                fmt = await session.read(f"{stem}.fmt", max_bytes=MAX_FORMAT_BYTES)
                if fmt.status != "ok" or not fmt.data:
                    return DumpOutcome(None, {}, "no_format")
                dumps.append(fmt.data)
            # gzip'd by TeX without a time stamp: equal images give equal files.
            if dumps[0] != dumps[1]:
                return DumpOutcome(None, {}, "clock")
            fls = await session.read(f"{stem}.fls", max_bytes=MAX_FLS_BYTES)
            if fls.status != "ok":
                return DumpOutcome(None, {}, "no_recording")
            inputs = await asyncio.to_thread(dump_inputs, fls.data, main, to_write)
            if inputs.outside is not None:
                log.info("preamble_reads_outside", path=inputs.outside[:200])
                return DumpOutcome(None, {}, "reads_outside")
            return DumpOutcome(dumps[0], inputs.project, None)


@dataclass(frozen=True, slots=True)
class _Job:
    """One compile inside its sandbox: the main file, engine, project paths, environment,
    and what it starts from."""

    sandbox: SandboxSession
    main: cmd.MainFile
    engine: Engine
    paths: list[str]
    env: dict[str, str]
    salt: str = ""
    seed: AuxSeed | None = None
    with_format: bool = False


def _status_of(result: RunResult) -> RunStatus:
    if result.signal == SIGXFSZ:
        return RunStatus.TOO_LARGE
    if result.signal == SIGXCPU:
        return RunStatus.CPU_LIMIT
    return RunStatus.OK if result.exit_code == 0 else RunStatus.FAILED
