"""The conventions real projects rely on, through the real sandbox and TeX Live.

TeX runs in the main file's folder (``../shared/x.tex`` resolves inside the project), the job
name is the main file's own, indexes (with the project's style) and nomenclatures are built,
and ``\\today`` prints the date the request carries.
"""

import asyncio

from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.latex_runner import LatexRunner, RunStatus
from texpipe_contracts.v1 import Engine
from texpipe_testing.pdf import pdftotext

NOV_24_2025 = 1764000000  # 2025-11-24T16:00:00Z

MAIN = r"""\documentclass{article}
\usepackage{makeidx}
\usepackage{nomencl}
\makeindex
\makenomenclature
\begin{document}
Job: \jobname. Date: \today.
\input{../shared/common}
Queues\index{queue} and workers\index{worker}.
\nomenclature{$q$}{queue depth}
\printnomenclature
\printindex
\end{document}
"""
STYLE = (
    b'headings_flag 1\nheading_prefix "{\\\\bfseries Letter "\n'
    b'heading_suffix "}\\\\nopagebreak\\n"\n'
)


async def test_a_book_in_a_folder_compiles_as_its_author_expects(
    runner: LatexRunner, sandbox_uid: int | None
) -> None:
    files = [
        ProjectFile("book/My Book.tex", MAIN.encode()),
        ProjectFile("book/style.ist", STYLE),
        ProjectFile("shared/common.tex", b"Shared text from a sibling folder.\n"),
    ]
    outcome = await runner.compile(
        files, "book/My Book.tex", Engine.PDFLATEX,
        uid=sandbox_uid, cpu_s=60, source_date_epoch=NOV_24_2025,
    )  # fmt: skip
    assert outcome.status is RunStatus.OK, outcome.log[-2000:]
    assert outcome.pdf is not None
    text = await asyncio.to_thread(pdftotext, outcome.pdf)
    assert "My Book" in text.split("Date:")[0], "\\jobname is the main file's name (TeX quotes it)"
    assert "Date: November 24, 2025." in text
    assert "Shared text from a sibling" in text
    assert "queue depth" in text, "the nomenclature was built"
    assert "Letter Q" in text, "the index was built with the project's style"
    assert "worker, 1" in text
