"""Engines end to end: Tectonic offline in the sandbox, reproducible PDFs, engine probing."""

import io
from pathlib import Path

import pytest
from compiler_helpers import CORPUS, outputs_of, project_files, raw_tar, submit  # type: ignore[import-not-found]
from pypdf import PdfReader
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


async def test_tectonic_reports_the_error_line(manager: CompileManager, s3_store: S3Store) -> None:
    bundle = raw_tar(project_files(CORPUS / "error-undefined"))
    result = await submit(manager, s3_store, bundle, Engine.TECTONIC)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert "Undefined control sequence" in result.error.message
    assert (result.error.file, result.error.line) == ("main.tex", 4)


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
