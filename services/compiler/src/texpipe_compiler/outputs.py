"""Facts about a PDF that left the sandbox: sha256, size, pages (counted by pypdf).

pypdf is pure Python over bytes a document shaped, so counting runs off the event loop and
within a time limit. A thread cannot be stopped: a count that overruns is abandoned (the
compile fails with a clear error) and finishes on its own in a daemon thread, which neither
holds a worker of the loop's default executor nor keeps the process from exiting.
"""

import asyncio
import contextlib
import hashlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from pypdf import PdfReader
from pypdf.errors import PyPdfError

log = structlog.get_logger(__name__)


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


def pdf_facts(data: bytes) -> PdfFacts:
    """sha256, size and page count of ``data`` (blocking; see :func:`pdf_facts_within`)."""
    try:
        pages = len(PdfReader(io.BytesIO(data), strict=False).pages)
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UnreadablePdfError(f"the PDF cannot be read: {exc}") from exc
    if pages < 1:
        raise UnreadablePdfError("the PDF has no pages")
    return PdfFacts(hashlib.sha256(data).hexdigest(), len(data), pages)


async def pdf_facts_within(
    data: bytes, timeout_s: float, facts: Callable[[bytes], PdfFacts] = pdf_facts
) -> PdfFacts:
    """``facts(data)`` in a thread of its own; PageCountTimeoutError after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[PdfFacts] = loop.create_future()

    def deliver(outcome: PdfFacts | Exception) -> None:
        if done.done():  # abandoned: its time ran out, or its task was cancelled
            log.info("pdf_page_count_ended_unawaited")
        elif isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)

    def count() -> None:
        outcome: PdfFacts | Exception
        try:
            outcome = facts(data)
        except Exception as exc:  # handed over to the awaiting task
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=count, name="pdf-page-count", daemon=True).start()
    try:
        return await asyncio.wait_for(done, timeout_s)
    except TimeoutError as exc:
        log.error("pdf_page_count_abandoned", timeout_s=timeout_s, size=len(data))
        raise PageCountTimeoutError(
            f"the PDF's pages could not be counted within {timeout_s:g} s"
        ) from exc
