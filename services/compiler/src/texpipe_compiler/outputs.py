"""What a compile offers: facts about its PDF (sha256, size, pages, counted by pypdf) and
the list of its output files.

pypdf is pure Python over bytes a document shaped: it may raise anything, run long or take
much memory. So pages are counted in a child process (``pdf_pages``), one per PDF, under
its own memory and CPU limits, killed when its time is up: nothing of a count outlives it,
and no failure of the parser reaches the service. A spare child is started ahead of use,
so the ~0.2 s of starting Python and loading pypdf is not on the compile's path (measured
here: ~35 ms per count with a warm spare, on a loaded machine).
"""

import asyncio
import contextlib
import hashlib
import json
import sys
from dataclasses import dataclass

import structlog
from texpipe_contracts.v1 import ObjectRef, OutputFile, PdfRef

log = structlog.get_logger(__name__)

MAX_ANSWER_BYTES = 4096
PDF_TYPE = "application/pdf"
LOG_TYPE = "text/plain; charset=utf-8"
SYNCTEX_TYPE = "application/gzip"
BBL_TYPE = "text/x-tex"
"""A .bbl is LaTeX in whatever encoding the bibliography had: no charset is claimed."""


def output_files(
    job_name: str,
    *,
    pdf: PdfRef | None,
    log_ref: ObjectRef | None,
    synctex: ObjectRef | None,
    bbl: ObjectRef | None,
) -> list[OutputFile]:
    """The files a compile offers, named after the main file's job name as TeX names them
    (``main.pdf``, ``main.log``, ``main.synctex.gz``, ``main.bbl``: the name arXiv expects
    of a ``.bbl`` beside ``main.tex``). Only what exists is listed."""
    found = (
        (pdf, ".pdf", PDF_TYPE),
        (log_ref, ".log", LOG_TYPE),
        (synctex, ".synctex.gz", SYNCTEX_TYPE),
        (bbl, ".bbl", BBL_TYPE),
    )
    return [
        OutputFile(key=ref.key, size=ref.size, name=job_name + suffix, content_type=kind)
        for ref, suffix, kind in found
        if ref is not None
    ]


class UnreadablePdfError(ValueError):
    """The engine's output is not a PDF pypdf can count pages in."""


class PageCountTimeoutError(Exception):
    """Counting the PDF's pages took longer than its time limit."""


@dataclass(frozen=True, slots=True)
class PdfFacts:
    """Identity and size of a PDF."""

    sha256: str
    size: int
    pages: int


class PageCounter:
    """Counts the pages of PDFs in child processes; ``aclose`` ends the spare."""

    def __init__(self, timeout_s: float, argv: tuple[str, ...] | None = None) -> None:
        """``timeout_s`` bounds one count; ``argv`` is the child's command line (tests)."""
        self._timeout_s = timeout_s
        self._argv = argv or (sys.executable, "-I", "-m", "texpipe_compiler.pdf_pages")
        self._spare: asyncio.subprocess.Process | None = None
        self._spawning: set[asyncio.Task[None]] = set()
        self._closed = False

    async def _start(self) -> asyncio.subprocess.Process:
        # Nothing of the service's environment (S3 and broker credentials) reaches the
        # process that parses what a document made.
        return await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )

    async def _spare_up(self) -> None:
        """Start the next PDF's process now, so it has loaded pypdf when a PDF comes (one
        that cannot start is started again by the next count, which then reports why)."""
        try:
            spare = await self._start()
        except OSError:
            log.warning("pdf_page_counter_spare_not_started", exc_info=True)
            return
        if self._spare is None and not self._closed:
            self._spare = spare
        else:  # another count made one meanwhile, or the counter is closing
            await _end(spare)

    async def facts(self, data: bytes) -> PdfFacts:
        """sha256, size and page count of ``data``.

        UnreadablePdfError when pypdf cannot count its pages (whatever the reason),
        PageCountTimeoutError when the count overruns its time.
        """
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        process, self._spare = self._spare, None
        if process is None or process.returncode is not None:
            process = await self._start()
        try:
            async with asyncio.timeout(self._timeout_s):
                answer, _ = await process.communicate(data)
        except TimeoutError as exc:
            log.error("pdf_page_count_stopped", timeout_s=self._timeout_s, size=len(data))
            raise PageCountTimeoutError(
                f"the PDF's pages could not be counted within {self._timeout_s:g} s"
            ) from exc
        finally:
            await _end(process)
            # The next PDF's process starts after this count (not beside it: both would
            # share the CPU), and not on this compile's path.
            if not self._closed:
                spawning = asyncio.create_task(self._spare_up())
                self._spawning.add(spawning)
                spawning.add_done_callback(self._spawning.discard)
        pages = _pages_of(answer[:MAX_ANSWER_BYTES], process.returncode)
        return PdfFacts(digest, len(data), pages)

    async def aclose(self) -> None:
        """End the spare child (idempotent)."""
        self._closed = True
        await asyncio.gather(*self._spawning, return_exceptions=True)
        process, self._spare = self._spare, None
        if process is not None:
            await _end(process)


def _pages_of(answer: bytes, returncode: int | None) -> int:
    try:
        verdict = json.loads(answer)
    except ValueError:
        verdict = None
    if not isinstance(verdict, dict):
        raise UnreadablePdfError(f"the PDF cannot be read (its reader ended with {returncode})")
    pages = verdict.get("pages")
    if not isinstance(pages, int):
        raise UnreadablePdfError(f"the PDF cannot be read: {verdict.get('error')}")
    if pages < 1:
        raise UnreadablePdfError("the PDF has no pages")
    return pages


async def _end(process: asyncio.subprocess.Process) -> None:
    """Kill (if still running) and reap; shielded, so a cancelled count still reaps."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await asyncio.shield(process.wait())
