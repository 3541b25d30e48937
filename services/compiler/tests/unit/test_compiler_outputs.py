"""Page counting: pypdf off the event loop, within a time limit."""

import io
import time

import pytest
from pypdf import PdfWriter
from texpipe_compiler.outputs import (
    PageCountTimeoutError,
    PdfFacts,
    UnreadablePdfError,
    pdf_facts_within,
)


def two_pages() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.add_blank_page(width=100, height=100)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


async def test_a_pdf_is_counted() -> None:
    data = two_pages()
    facts = await pdf_facts_within(data, timeout_s=10)
    assert (facts.pages, facts.size) == (2, len(data))


async def test_what_is_not_a_pdf_is_unreadable() -> None:
    with pytest.raises(UnreadablePdfError):
        await pdf_facts_within(b"%PDF-1.5 nothing else", timeout_s=10)


async def test_a_count_that_overruns_is_abandoned_at_its_limit() -> None:
    def stuck(data: bytes) -> PdfFacts:
        time.sleep(1.0)  # pypdf lost in a PDF a document shaped
        return PdfFacts("0" * 64, len(data), 1)

    started = time.monotonic()
    with pytest.raises(PageCountTimeoutError, match=r"within 0\.05 s"):
        await pdf_facts_within(b"x", timeout_s=0.05, facts=stuck)
    assert time.monotonic() - started < 0.5
