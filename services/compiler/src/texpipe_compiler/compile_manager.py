"""One compile request from start to result: cache, source, sandboxed run, outputs.

A broken document is an outcome (``failed``, ``timed_out``, ``rejected``), returned as a
``CompileCompleted``. Only a broken dependency (S3, the sandbox, the host's own resources)
raises. Anything else that goes wrong while a document is compiled and judged is a bug
this document found: the job ends ``failed`` / ``INTERNAL_ERROR`` with a loud log line,
never a message given back to be compiled again (and again).
"""

import asyncio
import dataclasses
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileErrorInfo,
    CompileRequested,
    Diagnostics,
    ObjectRef,
    Outcome,
    PdfRef,
    SynctexRef,
)

from texpipe_compiler import metrics
from texpipe_compiler.bundle_reader import BundleLimits, read_bundle, require_main_file
from texpipe_compiler.cache_key import CacheInputs, OutputKeys, cache_key, output_keys
from texpipe_compiler.engines import EngineInfo, Engines
from texpipe_compiler.errors import (
    EngineUnavailableError,
    InfrastructureError,
    SourceRejectedError,
)
from texpipe_compiler.latex_commands import PROJECT_DIR, MainFile
from texpipe_compiler.latex_runner import LatexRunner, RunOutcome, RunStatus
from texpipe_compiler.outputs import (
    PageCounter,
    PageCountTimeoutError,
    PdfFacts,
    UnreadablePdfError,
    output_files,
)
from texpipe_compiler.result_errors import report_for_run, simple_error
from texpipe_compiler.slots import SlotPool
from texpipe_compiler.start_points import StartPoints
from texpipe_compiler.storage import OutputStore, pdf_ref

log = structlog.get_logger(__name__)

DEPENDENCY_ERRORS = (InfrastructureError, OSError, BotoCoreError, ClientError)
"""What a broken dependency raises (the sandbox would not start, the host is out of fds or
processes, S3): an outage, for which the consumer holds the message and pauses. Every other
exception is an internal error."""
INTERNAL_MESSAGE = "the compiler failed on this document (an internal error, logged)"


@dataclass(frozen=True, slots=True)
class _Keys:
    """Where a compile's outputs go: ``shared`` (any document with the same source finds
    them), or ``scoped`` to the document when the compile started from its state."""

    shared: OutputKeys
    scoped: OutputKeys


@dataclass(frozen=True, slots=True)
class CompilePolicy:
    """The limits a compile request is held to."""

    bundle: BundleLimits
    max_bundle_bytes: int
    max_pdf_pages: int
    max_timeout_ms: int
    source_date_epoch: int


class CompileManager:
    """Turns a ``CompileRequested`` into a ``CompileCompleted``."""

    def __init__(
        self,
        policy: CompilePolicy,
        outputs: OutputStore,
        runner: LatexRunner,
        engines: Engines,
        slots: SlotPool,
        pages: PageCounter,
        starts: StartPoints | None = None,
        on_started: Callable[[CompileRequested], None] | None = None,
    ) -> None:
        """``starts``: auxiliary states and preamble formats (None: every compile from
        scratch). ``on_started``: called (it must not block) when a compile really begins in
        a sandbox, never for a cache hit or a rejected source."""
        self._policy, self._outputs, self._runner = policy, outputs, runner
        self._engines, self._slots, self._pages = engines, slots, pages
        self._starts, self._on_started = starts, on_started

    async def compile(self, request: CompileRequested) -> CompileCompleted:
        """Compile ``request`` (or find its result in the cache)."""
        started = time.monotonic()
        try:
            info = self._engines.info(request.engine)
        except EngineUnavailableError as exc:
            error = simple_error(ErrorCode.NO_OUTPUT, str(exc))
            return self._result(request, started, "unavailable", Outcome.FAILED, error=error)
        keys = self._keys(request, info)
        if self._starts is not None:  # both keys at once: one S3 round trip of time
            shared, scoped = await asyncio.gather(
                self._outputs.lookup(keys.shared), self._outputs.lookup(keys.scoped)
            )
            cached = shared or scoped
        else:
            cached = await self._outputs.lookup(keys.shared)
        if cached is not None:
            metrics.CACHE_HITS.labels(engine=request.engine.value).inc()
            log.info("compile_cache_hit", key=cached.pdf.key)
            return self._result(
                request, started, info.version, Outcome.SUCCEEDED,
                pdf=cached.pdf, log_ref=cached.log, cache_hit=True,
                diagnostics=cached.diagnostics, synctex=cached.synctex, bbl=cached.bbl,
            )  # fmt: skip
        async with self._slots.slot() as uid:
            # The duration is the compile's own, not the wait for a free slot.
            started = time.monotonic()
            try:
                return await self._compile_in_slot(request, started, info, keys, uid)
            except DEPENDENCY_ERRORS:
                raise
            except Exception:
                log.critical("compile_internal_error", exc_info=True)
                error = simple_error(ErrorCode.INTERNAL_ERROR, INTERNAL_MESSAGE)
                return self._result(request, started, info.version, Outcome.FAILED, error=error)

    async def _compile_in_slot(
        self,
        request: CompileRequested,
        started: float,
        info: EngineInfo,
        keys: _Keys,
        uid: int | None,
    ) -> CompileCompleted:
        try:
            data = await self._outputs.fetch_source(
                request.source, max_bytes=self._policy.max_bundle_bytes
            )
            files = await asyncio.to_thread(read_bundle, data, self._policy.bundle)
            require_main_file(files, request.main_file)
        except SourceRejectedError as exc:
            log.info("compile_rejected", reason=str(exc))
            error = simple_error(ErrorCode.SOURCE_REJECTED, str(exc))
            return self._result(request, started, info.version, Outcome.REJECTED, error=error)
        timeout_s = min(request.timeout_ms, self._policy.max_timeout_ms) / 1000
        plan = await self._starts.prepare(request, info, files) if self._starts else None
        start = plan.start if plan is not None else None
        log.info(
            "compile_started", engine=request.engine.value, uid=uid, timeout_s=timeout_s,
            seeded=bool(start and start.seed), with_format=bool(start and start.fmt),
        )  # fmt: skip
        metrics.COMPILES_STARTED.labels(engine=request.engine.value).inc()
        if self._on_started is not None:
            self._on_started(request)
        try:
            async with asyncio.timeout(timeout_s) as deadline:
                run = await self._runner.compile(
                    files, request.main_file, request.engine,
                    uid=uid, cpu_s=math.ceil(timeout_s) + 1,
                    source_date_epoch=self._source_date_epoch(request), start=start,
                )  # fmt: skip
        except TimeoutError:
            if not deadline.expired():
                raise
            message = f"the compile did not finish within {timeout_s:g} s and was stopped"
            error = simple_error(ErrorCode.TIMEOUT, message)
            return self._result(request, started, info.version, Outcome.TIMED_OUT, error=error)
        started_from_state = run.seeded or run.format_used
        result = await self._finish(
            request, started, info, keys.scoped if started_from_state else keys.shared, run
        )
        if result.outcome is Outcome.SUCCEEDED and self._starts is not None and plan is not None:
            epoch = self._source_date_epoch(request)
            self._starts.keep_soon(request, files, plan, run, epoch)
        return result

    def _source_date_epoch(self, request: CompileRequested) -> int:
        """The revision's own time when the request carries it, else the fixed default."""
        if request.source_date_epoch is not None:
            return request.source_date_epoch
        return self._policy.source_date_epoch

    def _keys(self, request: CompileRequested, info: EngineInfo) -> _Keys:
        inputs = self._cache_inputs(request, info)
        # A compile that started from the document's own state is cached for it alone.
        scoped = dataclasses.replace(inputs, scope=str(request.document_id))
        return _Keys(output_keys(cache_key(inputs)), output_keys(cache_key(scoped)))

    def _cache_inputs(self, request: CompileRequested, info: EngineInfo) -> CacheInputs:
        return CacheInputs(
            source_sha256=request.source.sha256,
            engine=request.engine,
            engine_version=info.version,
            engine_fingerprint=info.fingerprint,
            main_file=request.main_file,
            source_date_epoch=self._source_date_epoch(request),
        )

    async def _finish(
        self,
        request: CompileRequested,
        started: float,
        info: EngineInfo,
        keys: OutputKeys,
        run: RunOutcome,
    ) -> CompileCompleted:
        # The log is up to max_log_bytes of what the document made TeX print: off the loop.
        report = await asyncio.to_thread(report_for_run, run, request.engine)
        error, diagnostics, text = report.error, report.diagnostics, report.log_text
        if error is None and run.pdf is not None:
            # Everything is stored while the PDF's pages are counted (a child process, ~40
            # ms); the cache record, written last, is what makes it a result. Outputs a count
            # then refuses are left without a record: never served, replaced by a later
            # compile of the same key.
            log_ref, counted, (synctex, bbl) = await asyncio.gather(
                self._outputs.save_log(keys, text) if text else _none(),
                self._count(run.pdf),
                self._store_outputs(keys, run, run.pdf),
            )
            if isinstance(counted, CompileErrorInfo):
                error = counted
            elif counted.pages > self._policy.max_pdf_pages:
                limit = self._policy.max_pdf_pages
                message = f"the PDF has {counted.pages} pages, over the limit of {limit}"
                error = simple_error(ErrorCode.OUTPUT_TOO_LARGE, message)
            else:
                pdf = pdf_ref(keys, counted)
                await self._outputs.save_record(
                    keys, pdf, log_ref, diagnostics, synctex=synctex, bbl=bbl
                )
                return self._result(
                    request, started, info.version, Outcome.SUCCEEDED,
                    pdf=pdf, log_ref=log_ref, diagnostics=diagnostics, synctex=synctex, bbl=bbl,
                )  # fmt: skip
        else:
            log_ref = await self._outputs.save_log(keys, text) if text else None
        if error is None:
            error = simple_error(ErrorCode.NO_OUTPUT, "TeX finished without writing a PDF")
        outcome = Outcome.TIMED_OUT if run.status is RunStatus.CPU_LIMIT else Outcome.FAILED
        return self._result(
            request, started, info.version, outcome,
            error=error, log_ref=log_ref, diagnostics=diagnostics,
        )  # fmt: skip

    async def _count(self, pdf: bytes) -> PdfFacts | CompileErrorInfo:
        """The PDF's facts, or the error that its pages could not be counted."""
        try:
            return await self._pages.facts(pdf)
        except UnreadablePdfError as exc:
            return simple_error(ErrorCode.NO_OUTPUT, str(exc))
        except PageCountTimeoutError as exc:
            return simple_error(ErrorCode.OUTPUT_TOO_LARGE, str(exc))

    async def _store_outputs(
        self, keys: OutputKeys, run: RunOutcome, pdf: bytes
    ) -> tuple[SynctexRef | None, ObjectRef | None]:
        """Store the PDF, its SyncTeX file (compressed here, in a thread) and .bbl at once."""

        async def synctex() -> SynctexRef | None:
            if run.synctex is None:
                return None
            packed = await asyncio.to_thread(self._runner.compress_synctex, run.synctex)
            if packed is None:
                return None
            return await self._outputs.save_synctex(keys, packed, PROJECT_DIR)

        digest = await asyncio.to_thread(lambda: hashlib.sha256(pdf).hexdigest())
        _, synctex_ref, bbl = await asyncio.gather(
            self._outputs.save_pdf(keys, pdf, digest),
            synctex(),
            self._outputs.save_bbl(keys, run.bbl) if run.bbl is not None else _none(),
        )
        return synctex_ref, bbl

    def _result(
        self,
        request: CompileRequested,
        started: float,
        engine_version: str,
        outcome: Outcome,
        *,
        pdf: PdfRef | None = None,
        error: CompileErrorInfo | None = None,
        log_ref: ObjectRef | None = None,
        cache_hit: bool = False,
        diagnostics: Diagnostics | None = None,
        synctex: SynctexRef | None = None,
        bbl: ObjectRef | None = None,
    ) -> CompileCompleted:
        elapsed = time.monotonic() - started
        metrics.COMPILE_SECONDS.labels(engine=request.engine.value, outcome=outcome.value).observe(
            elapsed
        )
        log.info("compile_finished", outcome=outcome.value, cache_hit=cache_hit, seconds=elapsed)
        return CompileCompleted(
            job_id=request.job_id,
            document_id=request.document_id,
            revision=request.revision,
            outcome=outcome,
            pdf=pdf,
            error=error,
            log=log_ref,
            duration_ms=int(elapsed * 1000),
            engine=request.engine,
            engine_version=engine_version[:200],
            cache_hit=cache_hit,
            diagnostics=diagnostics,
            synctex=synctex,
            outputs=output_files(
                MainFile(request.main_file).job_name,
                pdf=pdf,
                log_ref=log_ref,
                synctex=synctex,
                bbl=bbl,
            ),
        )


async def _none() -> None:
    """Nothing, awaited beside what there is to do (``asyncio.gather``)."""
