"""Facts about a PDF that left the sandbox (pure; run off the event loop, it parses)."""

import hashlib
import io
from dataclasses import dataclass

from pypdf import PdfReader
from pypdf.errors import PyPdfError


class UnreadablePdfError(ValueError):
    """The engine's output is not a PDF pypdf can count pages in."""


@dataclass(frozen=True, slots=True)
class PdfFacts:
    """Identity and size of a PDF."""

    sha256: str
    size: int
    pages: int


def pdf_facts(data: bytes) -> PdfFacts:
    """sha256, size and page count of ``data``."""
    try:
        pages = len(PdfReader(io.BytesIO(data), strict=False).pages)
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise UnreadablePdfError(f"the PDF cannot be read: {exc}") from exc
    if pages < 1:
        raise UnreadablePdfError("the PDF has no pages")
    return PdfFacts(hashlib.sha256(data).hexdigest(), len(data), pages)
