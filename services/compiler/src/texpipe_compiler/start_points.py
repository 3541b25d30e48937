"""What a compile starts from besides its project, and what it leaves for the next one.

Before a compile: the document's auxiliary state (``incremental``) and, when its preamble
is known and was dumped, the preamble's format (``preamble``). After a successful one: the
new state, and the preamble's next step. Formats are dumped at the second sight of a
preamble (the first compile of a preamble that is edited on every save never pays for a
dump), after that compile's result is returned, in a compile slot of its own and within
the compile timeout: off the author's critical path, at the cost of one slot for as long
as two dumps take (about twice the preamble's load time).
"""

import asyncio
import contextlib
import dataclasses
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog
from texpipe_contracts.v1 import CompileRequested

from texpipe_compiler import incremental, metrics, preamble
from texpipe_compiler import latex_commands as cmd
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.engines import EngineInfo
from texpipe_compiler.latex_runner import DumpOutcome, LatexRunner, RunOutcome, StartPoint
from texpipe_compiler.slots import SlotPool
from texpipe_compiler.state_store import StateStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """What was found for one compile and what to do after it."""

    start: StartPoint | None
    state_key: str | None
    found: preamble.Preamble | None
    """The main file's preamble, when a format could stand for it."""
    manifest: preamble.Manifest | None


@dataclass(frozen=True, slots=True)
class _Success:
    """A successful compile, what ``StartPoints.keep_soon`` keeps of it."""

    request: CompileRequested
    files: list[ProjectFile]
    plan: Plan
    run: RunOutcome
    source_date_epoch: int


@dataclass(frozen=True, slots=True)
class _Check:
    """What a new format must reproduce: the PDF a compile of the dumped revision gave, from
    the state it left, at its date."""

    pdf: bytes
    state: incremental.AuxSeed
    source_date_epoch: int


class StartPoints:
    """Finds and keeps auxiliary states and preamble formats; dumps formats in the
    background (``aclose`` cancels the dumps still running)."""

    def __init__(
        self, states: StateStore, runner: LatexRunner, slots: SlotPool, *, dump_timeout_s: float
    ) -> None:
        self._states, self._runner, self._slots = states, runner, slots
        self._dump_timeout_s = dump_timeout_s
        self._dumps: set[asyncio.Task[None]] = set()
        self._keeping: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def prepare(
        self, request: CompileRequested, info: EngineInfo, files: Sequence[ProjectFile]
    ) -> Plan:
        """The state and format this compile starts from, if any (after what this compiler
        still keeps of the document's last compile, ``keep_soon``)."""
        keeping = self._keeping.get(request.document_id)
        if keeping is not None:
            await asyncio.shield(keeping)
        if request.engine not in cmd.TEX_ENGINES or not incremental.usable_project(files):
            reason = "engine" if request.engine not in cmd.TEX_ENGINES else "project"
            metrics.AUX_STATES.labels(result="not_seeded", reason=reason).inc()
            return Plan(None, None, None, None)
        key = incremental.state_key(
            request.document_id, request.engine, info.version, info.fingerprint, request.main_file
        )
        found = await asyncio.to_thread(
            preamble.preamble_of, files, cmd.MainFile(request.main_file), request.engine,
            info.version, info.fingerprint,
        )  # fmt: skip
        seed, (fmt, manifest) = await asyncio.gather(
            self._seed(key, files), self._format(request, found, files)
        )
        start = StartPoint(seed, fmt) if seed is not None or fmt is not None else None
        return Plan(start, key, found, manifest)

    async def _seed(self, key: str, files: Sequence[ProjectFile]) -> incremental.AuxSeed | None:
        try:
            seed = await self._states.load_state(key, files)
        except incremental.StateRejectedError as exc:
            log.warning("aux_state_rejected", reason=str(exc)[:300])
            metrics.AUX_STATES.labels(result="not_seeded", reason="rejected").inc()
            return None
        result, reason = ("seeded", "found") if seed is not None else ("not_seeded", "none")
        metrics.AUX_STATES.labels(result=result, reason=reason).inc()
        return seed

    async def _format(
        self,
        request: CompileRequested,
        found: preamble.Preamble | None,
        files: Sequence[ProjectFile],
    ) -> tuple[Path | None, preamble.Manifest | None]:
        if request.engine not in cmd.FORMAT_ENGINES:
            metrics.FORMATS.labels(result="undumpable", reason="engine").inc()
            return None, None
        if found is None:
            metrics.FORMATS.labels(result="undumpable", reason="no_preamble").inc()
            return None, None
        manifest = await self._states.load_manifest(request.document_id, found)
        if manifest is None or manifest.status == "seen":
            reason = "first_sight" if manifest is None else "second_sight"
            metrics.FORMATS.labels(result="miss", reason=reason).inc()
            return None, manifest
        if manifest.status == "undumpable":
            metrics.FORMATS.labels(result="undumpable", reason=manifest.reason or "").inc()
            return None, manifest
        assert manifest.format is not None  # decode_manifest checked a dumped one
        assert manifest.inputs is not None
        if not preamble.inputs_match(manifest.inputs, files):
            # A file the preamble reads changed: seen once more, dumped at the next sight.
            metrics.FORMATS.labels(result="miss", reason="inputs_changed").inc()
            return None, None
        fmt = await self._states.load_format(manifest.format)
        result, reason = ("hit", "") if fmt is not None else ("miss", "format_missing")
        metrics.FORMATS.labels(result=result, reason=reason).inc()
        return fmt, manifest if fmt is not None else None

    def keep_soon(
        self,
        request: CompileRequested,
        files: Sequence[ProjectFile],
        plan: Plan,
        run: RunOutcome,
        source_date_epoch: int,
    ) -> None:
        """Keep the new state; record the preamble's sight or start its dump (checked
        against ``run``, compiled with ``source_date_epoch``). In the background, off the
        path of the result (its S3 writes took ~5 ms before each result was published): the
        document's next ``prepare`` here waits for it; a state that could not be kept (S3
        away) only costs the next compile its passes."""
        document = request.document_id
        success = _Success(request, list(files), plan, run, source_date_epoch)
        task = asyncio.create_task(self._keep(self._keeping.get(document), success))
        self._keeping[document] = task

        def forget(done: "asyncio.Task[None]") -> None:
            if self._keeping.get(document) is done:
                del self._keeping[document]

        task.add_done_callback(forget)

    async def _keep(self, earlier: "asyncio.Task[None] | None", success: "_Success") -> None:
        if earlier is not None:
            await asyncio.shield(earlier)
        try:
            await self._after_success(success)
        except Exception:
            log.warning("start_points_not_kept", exc_info=True)

    async def _after_success(self, success: "_Success") -> None:
        request, files, plan, run = success.request, success.files, success.plan, success.run
        source_date_epoch = success.source_date_epoch
        metrics.PASSES.labels(engine=request.engine.value, seeded=str(run.seeded).lower()).observe(
            run.passes
        )
        if run.fell_back:
            metrics.FALLBACKS.labels(engine=request.engine.value).inc()
        if plan.state_key is not None and run.state is not None:
            await self._states.save_state(plan.state_key, run.state)
        found, manifest = plan.found, plan.manifest
        if found is None or request.engine not in cmd.FORMAT_ENGINES:
            return
        if manifest is None or (run.fell_back and run.format_used):
            await self._states.save_manifest(request.document_id, found, preamble.Manifest("seen"))
        elif manifest.status == "seen" and run.pdf is not None and run.state is not None:
            self._start_dump(request, files, found, _Check(run.pdf, run.state, source_date_epoch))

    def _start_dump(
        self,
        request: CompileRequested,
        files: Sequence[ProjectFile],
        found: preamble.Preamble,
        check: _Check,
    ) -> None:
        task = asyncio.create_task(self._dump(request, list(files), found, check))
        self._dumps.add(task)
        task.add_done_callback(self._dumps.discard)

    async def _dump(
        self,
        request: CompileRequested,
        files: list[ProjectFile],
        found: preamble.Preamble,
        check: _Check,
    ) -> None:
        bound = structlog.contextvars.bound_contextvars(
            job_id=str(request.job_id), document_id=str(request.document_id)
        )
        with bound:
            try:
                async with self._slots.slot() as uid, asyncio.timeout(self._dump_timeout_s):
                    outcome, key = await self._dump_checked(request, files, found, check, uid)
                if outcome.fmt is None or key is None:
                    reason = outcome.reason or "dump_failed"
                    manifest = preamble.Manifest("undumpable", reason=reason)
                    metrics.FORMATS.labels(result="undumpable", reason=reason).inc()
                else:
                    await self._states.save_format(key, outcome.fmt)
                    manifest = preamble.Manifest("dumped", format=key, inputs=outcome.inputs)
                    metrics.FORMATS.labels(result="dumped", reason="").inc()
                await self._states.save_manifest(request.document_id, found, manifest)
                log.info("preamble_dump_finished", status=manifest.status, reason=manifest.reason)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                log.warning("preamble_dump_timed_out", timeout_s=self._dump_timeout_s)
            except Exception:  # a dump is an optimisation: it never fails anything else
                log.exception("preamble_dump_failed")

    async def _dump_checked(
        self,
        request: CompileRequested,
        files: list[ProjectFile],
        found: preamble.Preamble,
        check: _Check,
        uid: int | None,
    ) -> tuple[DumpOutcome, str | None]:
        """Dump; then the format must give the very PDF the compile of the dumped revision
        gave (pdfTeX keeps some of its state out of a format: color stacks a preamble made,
        so a TikZ preamble gives the same text and pages but not the same bytes). Returns the
        outcome and, for a format that passed, its key (its file staged for compiles)."""
        cpu_s = math.ceil(self._dump_timeout_s) + 1
        outcome = await self._runner.dump_format(
            files, request.main_file, request.engine, uid=uid, cpu_s=cpu_s,
            end_line=found.end_line,
        )  # fmt: skip
        if outcome.fmt is None:
            return outcome, None
        key = preamble.format_key(request.document_id, found, outcome.inputs)
        path = await self._states.stage_format(key, outcome.fmt)
        if path is None:
            return dataclasses.replace(outcome, fmt=None, reason="too_large"), None
        again = await self._runner.compile(
            files, request.main_file, request.engine, uid=uid, cpu_s=cpu_s,
            source_date_epoch=check.source_date_epoch, start=StartPoint(check.state, path),
        )  # fmt: skip
        if again.format_used and not again.fell_back and again.pdf == check.pdf:
            return outcome, key
        await self._states.discard_format(key)
        return dataclasses.replace(outcome, fmt=None, reason="output_differs"), None

    async def wait_dumps(self) -> None:
        """Wait for the states being kept and the dumps running now (tests, benchmarks)."""
        while self._keeping or self._dumps:
            waiting = [*self._keeping.values(), *self._dumps]
            await asyncio.gather(*waiting, return_exceptions=True)

    async def aclose(self) -> None:
        """Wait for the states being kept; cancel the dumps still running (shutdown)."""
        await asyncio.gather(*self._keeping.values(), return_exceptions=True)
        for task in list(self._dumps):
            task.cancel()
        for task in list(self._dumps):
            with contextlib.suppress(asyncio.CancelledError):
                await task
