"""Every corpus document through the compile manager: real sandbox, real TeX, real S3."""

import io
import json
import time

import pytest
from compiler_helpers import CORPUS, outputs_of, processes_of, project_files, raw_tar, submit  # type: ignore[import-not-found]
from pypdf import PdfReader
from texpipe_compiler.compile_manager import CompileManager
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import CompileCompleted, Engine, Outcome
from texpipe_servicekit.s3 import S3Store

MANIFEST = json.loads((CORPUS / "manifest.json").read_text())["documents"]
SLOW_TIMEOUT_MS = 3000


def check_against_manifest(name: str, result: CompileCompleted, pdf: bytes) -> None:
    """``result`` is what manifest.json expects of document ``name``."""
    expect = MANIFEST[name]["expect"]
    assert result.outcome.value == expect["outcome"], result.error
    if result.outcome is Outcome.SUCCEEDED:
        assert result.pdf is not None
        reader = PdfReader(io.BytesIO(pdf))
        assert len(reader.pages) == result.pdf.pages
        if "pages" in expect:
            assert result.pdf.pages == expect["pages"]
        if "min_pages" in expect:
            assert result.pdf.pages >= expect["min_pages"]
        text = "\n".join(page.extract_text() for page in reader.pages)
        for wanted in expect.get("text_contains", []):
            assert wanted in text
        for unwanted in expect.get("text_excludes", []):
            assert unwanted not in text
    if result.outcome is Outcome.FAILED:
        assert result.error is not None
        shown = f"{result.error.message}\n{result.error.excerpt}"
        for wanted in expect.get("error_contains", []):
            assert wanted in shown
        if "error_line" in expect:
            assert result.error.file == expect["error_line"]["file"]
            assert result.error.line == expect["error_line"]["line"]


@pytest.mark.parametrize("name", sorted(n for n in MANIFEST if n != "slow-loop"))
async def test_corpus_document_ends_as_the_manifest_says(
    name: str, manager: CompileManager, s3_store: S3Store
) -> None:
    engine = Engine(MANIFEST[name]["engine"])
    bundle = raw_tar(project_files(CORPUS / name))
    result = await submit(manager, s3_store, bundle, engine)
    pdf, log = await outputs_of(s3_store, result)
    check_against_manifest(name, result, pdf)
    assert not result.cache_hit
    assert log, "the whole log goes to S3"


async def test_slow_loop_times_out_within_a_second_and_leaves_no_process(
    manager: CompileManager, s3_store: S3Store, sandbox_uids: range
) -> None:
    bundle = raw_tar(project_files(CORPUS / "slow-loop"))
    started = time.monotonic()
    result = await submit(manager, s3_store, bundle, Engine.PDFLATEX, timeout_ms=SLOW_TIMEOUT_MS)
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.TIMED_OUT
    assert result.error is not None
    assert result.error.code is ErrorCode.TIMEOUT
    assert elapsed < SLOW_TIMEOUT_MS / 1000 + 1
    assert list(processes_of(sandbox_uids)) == []


async def test_a_second_request_for_the_same_source_is_a_cache_hit(
    manager: CompileManager, s3_store: S3Store
) -> None:
    bundle = raw_tar(project_files(CORPUS / "hello"))
    first = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    started = time.monotonic()
    second = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    assert second.cache_hit
    assert time.monotonic() - started < 0.5
    assert second.pdf == first.pdf
    assert second.log == first.log
