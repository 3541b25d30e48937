"""Count the pages of one PDF read from stdin; run as a child process of the compiler.

``python -I -m texpipe_compiler.pdf_pages`` loads pypdf, limits its own memory and CPU time,
then reads the whole PDF from stdin and writes one JSON line to stdout: ``{"pages": N}``,
or ``{"error": "..."}`` for any failure of the parser (pypdf is pure Python over bytes a
document shaped: a bad, hostile or encrypted PDF must end here, never in the service).
The parent kills the process when its time is up (``outputs.PageCounter``).
"""

import io
import json
import os
import resource
import sys

from pypdf import PdfReader, PdfWriter

MEMORY_BYTES = 3 << 30
"""Address space of the child: pypdf holds the PDF (at most the compiler's PDF cap, 64 MiB
by default) and what it parses of it."""
CPU_S = 60
MAX_ERROR_CHARS = 300


def count(data: bytes) -> dict[str, object]:
    """``{"pages": N}`` or ``{"error": reason}``, whatever pypdf raises."""
    try:
        pages = len(PdfReader(io.BytesIO(data), strict=False).pages)
    except (Exception, RecursionError, MemoryError) as exc:  # any parser failure is a verdict
        return {"error": f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]}
    return {"pages": pages}


def warm_up() -> None:
    """Count the pages of a PDF of pypdf's own making: what pypdf loads on its first use is
    loaded before a compile's PDF comes (measured here: 35 -> 30 ms for the corpus's 26-page
    article, from writing the PDF to the answer)."""
    made = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(72, 72)
    writer.write(made)
    count(made.getvalue())


def main() -> None:
    """Limit this process, warm it up, read stdin, answer on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    warm_up()
    data = sys.stdin.buffer.read()
    sys.stdout.write(json.dumps(count(data)) + "\n")
    sys.stdout.flush()
    os._exit(0)  # the answer is out: no interpreter teardown on the compile's path


if __name__ == "__main__":
    main()
