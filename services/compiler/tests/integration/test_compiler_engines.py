"""Engines end to end: Tectonic offline in the sandbox, reproducible PDFs, engine probing."""

import io
from pathlib import Path

import pytest
from compiler_helpers import CORPUS, outputs_of, project_files, raw_tar, submit  # type: ignore[import-not-found]
from pypdf import PdfReader
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.compile_manager import CompileManager
from texpipe_compiler.engines import probe_engines
from texpipe_compiler.errors import EngineUnavailableError
from texpipe_compiler.latex_runner import LatexRunner, RunStatus
from texpipe_contracts.v1 import Engine, Outcome
from texpipe_servicekit.s3 import S3Store


async def test_tectonic_compiles_offline_with_bibtex(
    manager: CompileManager, s3_store: S3Store
) -> None:
    bundle = raw_tar(project_files(CORPUS / "bibtex"))
    result = await submit(manager, s3_store, bundle, Engine.TECTONIC)
    assert result.outcome is Outcome.SUCCEEDED, result.error
    assert result.engine_version.startswith("Tectonic")
    pdf, _ = await outputs_of(s3_store, result)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Kendall" in text
    assert "[?]" not in text
    assert result.synctex is not None, "tectonic --synctex writes main.synctex.gz too"
    assert result.outputs is not None
    assert [o.name for o in result.outputs] == [
        "main.pdf", "main.log", "main.synctex.gz", "main.bbl"
    ]  # fmt: skip


async def test_tectonic_reports_the_error_line(manager: CompileManager, s3_store: S3Store) -> None:
    bundle = raw_tar(project_files(CORPUS / "error-undefined"))
    result = await submit(manager, s3_store, bundle, Engine.TECTONIC)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert "Undefined control sequence" in result.error.message
    assert (result.error.file, result.error.line) == ("main.tex", 4)


_PAGELLA = rb"""\documentclass{article}
\usepackage{fontspec}
\setmainfont{TeX Gyre Pagella}
\begin{document}Set in Pagella.\end{document}
"""
_CHINESE = "这是中文文档。"
_CTEX = f"\\documentclass{{ctexart}}\\begin{{document}}{_CHINESE}\\end{{document}}\n".encode()
_BIBLATEX = rb"""\documentclass{article}
\usepackage[backend=biber]{biblatex}
\addbibresource{refs.bib}
\begin{document}As \textcite{knuth84} shows.\printbibliography\end{document}
"""
_REFS = b"@book{knuth84, author={Donald E. Knuth}, title={The TeXbook}, year={1984}}\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ([ProjectFile("main.tex", _PAGELLA)], ["Set in Pagella.", "TeXGyrePagella"]),
        ([ProjectFile("main.tex", _CTEX)], ["FandolSong"]),
        (
            [ProjectFile("main.tex", _BIBLATEX), ProjectFile("refs.bib", _REFS)],
            ["As Knuth [1] shows.", "The TeXbook"],
        ),
    ],
    ids=["fontspec-tex-gyre", "ctex", "biblatex-biber"],
)
async def test_tectonic_bundle_holds_the_full_tex_live(
    files: list[ProjectFile], expected: list[str], runner: LatexRunner, sandbox_uid: int | None
) -> None:
    """The bundle made of the full TeX Live: its format loads, fonts by name, CJK, biber.

    ``expected``: texts of page 1 or names of its fonts (FandolSong has no ToUnicode map, so
    the Chinese text is checked through its font).
    """
    result = await runner.compile(
        files, "main.tex", Engine.TECTONIC, uid=sandbox_uid, cpu_s=60, source_date_epoch=0
    )
    assert result.status is RunStatus.OK, result.output[-2000:]
    assert result.pdf is not None
    reader = PdfReader(io.BytesIO(result.pdf))
    fonts = " ".join(
        str(font["/BaseFont"]) for font in reader.pages[0]["/Resources"]["/Font"].values()
    )
    found = (reader.pages[0].extract_text() or "") + " " + fonts
    for text in expected:
        assert text in found


@pytest.mark.parametrize(
    ("folder", "engine"),
    [
        ("bibtex", Engine.PDFLATEX),
        ("xelatex-unicode", Engine.XELATEX),
        ("lualatex", Engine.LUALATEX),
        ("hello", Engine.TECTONIC),
    ],
)
async def test_the_same_source_gives_a_byte_identical_pdf(
    folder: str, engine: Engine, runner: LatexRunner, sandbox_uid: int | None
) -> None:
    files = project_files(CORPUS / folder)
    first = await runner.compile(
        files, "main.tex", engine, uid=sandbox_uid, cpu_s=60, source_date_epoch=0
    )
    second = await runner.compile(
        files, "main.tex", engine, uid=sandbox_uid, cpu_s=60, source_date_epoch=0
    )
    assert first.status is RunStatus.OK
    assert first.pdf is not None
    assert first.pdf == second.pdf


async def test_a_missing_tectonic_is_reported_only_when_enabled(tmp_path: Path) -> None:
    engines = await probe_engines([Engine.PDFLATEX, Engine.TECTONIC], tmp_path / "nothing")
    with pytest.raises(RuntimeError, match="tectonic"):
        await engines.check()
    with pytest.raises(EngineUnavailableError, match="make tectonic"):
        engines.info(Engine.TECTONIC)
    assert engines.info(Engine.PDFLATEX).version.startswith("pdfTeX")
    without = await probe_engines([Engine.PDFLATEX], tmp_path / "nothing")
    await without.check()
