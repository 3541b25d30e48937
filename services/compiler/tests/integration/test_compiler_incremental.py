"""Incremental compiles: an edit starts from the auxiliary state of the last compile and
gives the PDF a compile from scratch gives (real TeX in the real sandbox)."""

import pytest
from texpipe_compiler import latex_commands as cmd
from texpipe_compiler import preamble
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.format_files import FormatFiles
from texpipe_compiler.latex_runner import (
    DumpOutcome,
    LatexRunner,
    RunOutcome,
    RunStatus,
    StartPoint,
)
from texpipe_contracts.v1 import Engine
from texpipe_testing.pdf import pdftotext

REV1_EPOCH, REV2_EPOCH = 1_760_000_000, 1_760_086_400
PAPER = r"""\documentclass{article}
\usepackage{hyperref}
\begin{document}
\tableofcontents
\section{Intro}\label{sec:intro}
See Section~\ref{sec:end} on page~\pageref{sec:end} and \cite{knuth}. %(EDIT)
%(NEW)
\section{End}\label{sec:end}
Back to Section~\ref{sec:intro}.
\bibliographystyle{plain}
\bibliography{refs}
\end{document}
"""
REFS = rb"""@book{knuth, author={Donald Knuth}, title={The TeXbook}, year={1984}, publisher={AW}}
@book{lamport, author={Leslie Lamport}, title={LaTeX}, year={1994}, publisher={AW}}
"""


def paper(edit: str = "", new: str = "") -> list[ProjectFile]:
    """The test paper, with a sentence edited and a section added where asked."""
    text = PAPER.replace("%(EDIT)", edit).replace("%(NEW)", new)
    return [ProjectFile("main.tex", text.encode()), ProjectFile("refs.bib", REFS)]


async def run(
    runner: LatexRunner,
    uid: int | None,
    files: list[ProjectFile],
    epoch: int,
    start: StartPoint | None = None,
    engine: Engine = Engine.PDFLATEX,
) -> RunOutcome:
    """One compile of ``files`` as the compile manager runs it."""
    outcome = await runner.compile(
        files, "main.tex", engine, uid=uid, cpu_s=60, source_date_epoch=epoch, start=start
    )
    assert outcome.status is RunStatus.OK, outcome.log[-3000:]
    return outcome


async def test_an_edit_that_moves_no_reference_takes_one_pass_and_the_same_bytes(
    runner: LatexRunner, sandbox_uid: int | None
) -> None:
    first = await run(runner, sandbox_uid, paper(), REV1_EPOCH)
    assert first.passes >= 3
    assert first.state is not None
    edited = paper(edit="One sentence more.")
    incremental = await run(runner, sandbox_uid, edited, REV2_EPOCH, StartPoint(first.state))
    scratch = await run(runner, sandbox_uid, edited, REV2_EPOCH)
    assert (incremental.seeded, incremental.passes, incremental.fell_back) == (True, 1, False)
    assert incremental.pdf == scratch.pdf, "pdflatex: byte-identical to a compile from scratch"


async def test_an_edit_that_adds_a_section_and_a_citation_resolves_them(
    runner: LatexRunner, sandbox_uid: int | None
) -> None:
    first = await run(runner, sandbox_uid, paper(), REV1_EPOCH)
    new = r"\section{Middle}\label{sec:mid} See \cite{lamport} and Section~\ref{sec:mid}."
    edited = paper(edit=r"Also Section~\ref{sec:mid}.", new=new)
    incremental = await run(runner, sandbox_uid, edited, REV2_EPOCH, StartPoint(first.state))
    scratch = await run(runner, sandbox_uid, edited, REV2_EPOCH)
    assert incremental.pdf is not None
    text = pdftotext(incremental.pdf)
    assert "??" not in text
    assert "[?]" not in text
    assert "Lamport" in text
    assert "3 Middle" not in text  # numbered 2, before End
    assert incremental.passes > 1
    assert incremental.pdf == scratch.pdf


STALE = r"""\documentclass{article}
%(PRE)
\begin{document}
%(BODY)
Text.
\end{document}
"""


async def test_a_state_that_breaks_pass_one_falls_back_to_a_compile_from_scratch(
    runner: LatexRunner, sandbox_uid: int | None
) -> None:
    # Revision 1 defines a macro and writes it into the .aux; revision 2 no longer defines
    # it: read back from the kept .aux it is an undefined control sequence.
    pre = r"\makeatletter\def\texpipeMark{}\makeatother"
    body = r"\makeatletter\immediate\write\@auxout{\string\texpipeMark}\makeatother"
    rev1 = STALE.replace("%(PRE)", pre).replace("%(BODY)", body)
    first = await run(runner, sandbox_uid, [ProjectFile("main.tex", rev1.encode())], REV1_EPOCH)
    assert first.state is not None
    rev2 = [ProjectFile("main.tex", STALE.encode())]
    second = await run(runner, sandbox_uid, rev2, REV2_EPOCH, StartPoint(first.state))
    assert second.fell_back
    assert not second.seeded
    scratch = await run(runner, sandbox_uid, rev2, REV2_EPOCH)
    assert second.pdf == scratch.pdf


async def test_a_pass_that_read_an_uncovered_file_is_not_the_last(
    runner: LatexRunner, sandbox_uid: int | None
) -> None:
    # The list of listings (.lol) is read back but not among the compared auxiliary files.
    doc = r"""\documentclass{article}
\usepackage{listings}
\begin{document}
\lstlistoflistings
\begin{lstlisting}[caption={First}]
x
\end{lstlisting}
%(NEW)
\end{document}
"""
    first = await run(runner, sandbox_uid, [ProjectFile("main.tex", doc.encode())], REV1_EPOCH)
    new = "\\begin{lstlisting}[caption={Second}]\ny\n\\end{lstlisting}"
    edited = [ProjectFile("main.tex", doc.replace("%(NEW)", new).encode())]
    second = await run(runner, sandbox_uid, edited, REV2_EPOCH, StartPoint(first.state))
    scratch = await run(runner, sandbox_uid, edited, REV2_EPOCH)
    assert second.pdf is not None
    assert "Second" in pdftotext(second.pdf).split("\f")[0]
    assert second.passes == 2
    assert second.pdf == scratch.pdf


async def dump(
    runner: LatexRunner, uid: int | None, files: list[ProjectFile], engine: Engine
) -> DumpOutcome:
    """Dump the preamble of ``files`` as the compiler does."""
    main = cmd.MainFile("main.tex")
    found = preamble.preamble_of(files, main, engine, "test", "test")
    assert found is not None
    return await runner.dump_format(
        files, "main.tex", engine, uid=uid, cpu_s=60, end_line=found.end_line
    )


async def test_a_dumped_preamble_gives_the_bytes_of_a_compile_from_scratch(
    runner: LatexRunner, sandbox_uid: int | None, format_files: FormatFiles
) -> None:
    files = paper()
    dumped = await dump(runner, sandbox_uid, files, Engine.PDFLATEX)
    assert dumped.reason is None
    assert dumped.fmt is not None
    assert dumped.inputs == {}  # the preamble reads no project file but the main one
    first = await run(runner, sandbox_uid, files, REV1_EPOCH)
    edited = paper(edit="One sentence more.")
    # As the service runs it: the format uncompressed, a file mounted into the sandbox.
    start = StartPoint(first.state, format_files.put("main", dumped.fmt))
    assert start.fmt is not None
    assert start.fmt.stat().st_size > len(dumped.fmt)
    fast = await run(runner, sandbox_uid, edited, REV2_EPOCH, start)
    scratch = await run(runner, sandbox_uid, edited, REV2_EPOCH)
    assert (fast.format_used, fast.passes, fast.fell_back) == (True, 1, False)
    assert fast.pdf is not None
    assert scratch.pdf is not None
    assert b"preloaded format=main" in fast.log
    assert fast.pdf == scratch.pdf, "pdflatex: the format adds no font of its own"


@pytest.mark.parametrize(
    ("engine", "pre", "reason"),
    [
        (Engine.PDFLATEX, r"\edef\builtin{\the\year}", "clock"),
        (Engine.XELATEX, r"\usepackage{fontspec}\setmainfont{TeX Gyre Termes}", "native_fonts"),
    ],
    ids=["clock", "xelatex-fontspec"],
)
async def test_what_cannot_be_dumped_says_why(
    engine: Engine, pre: str, reason: str, runner: LatexRunner, sandbox_uid: int | None
) -> None:
    text = STALE.replace("%(PRE)", pre).replace("%(BODY)", "")
    dumped = await dump(runner, sandbox_uid, [ProjectFile("main.tex", text.encode())], engine)
    assert (dumped.fmt, dumped.reason) == (None, reason)
