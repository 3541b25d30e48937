"""The compile manager over the real sandbox, TeX and S3: timeouts and the cache.

(Every corpus document is compiled through the running service in test_compiler_service.)
"""

import gzip
import secrets

from compiler_helpers import (  # type: ignore[import-not-found]
    CORPUS,
    SHARED,
    processes_of,
    project_files,
    raw_tar,
    submit,
)
from prometheus_client import REGISTRY
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.compile_manager import CompileManager
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import Diagnostic, Engine, Outcome, Severity
from texpipe_servicekit.s3 import S3Store

SLOW_TIMEOUT_MS = 3000


async def test_slow_loop_times_out_and_leaves_no_process(
    manager: CompileManager, s3_store: S3Store, sandbox_uids: range
) -> None:
    bundle = raw_tar(project_files(CORPUS / "slow-loop"))
    result = await submit(manager, s3_store, bundle, Engine.PDFLATEX, timeout_ms=SLOW_TIMEOUT_MS)
    # The compiler's own clock stopped it (how fast is bench/'s business, not a test's).
    assert result.outcome is Outcome.TIMED_OUT
    assert result.error is not None
    assert result.error.code is ErrorCode.TIMEOUT
    assert list(processes_of(sandbox_uids)) == []


async def test_a_second_request_for_the_same_source_is_a_cache_hit(
    manager: CompileManager, s3_store: S3Store
) -> None:
    bundle = raw_tar(project_files(CORPUS / "hello"))
    first = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    hits = REGISTRY.get_sample_value(
        "texpipe_compile_cache_hits_total", {"engine": Engine.PDFLATEX.value}
    )
    second = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    assert second.cache_hit
    # Answered from the cache, without TeX: the compiler counted a hit.
    after = REGISTRY.get_sample_value(
        "texpipe_compile_cache_hits_total", {"engine": Engine.PDFLATEX.value}
    )
    assert (after or 0) == (hits or 0) + 1
    assert second.pdf == first.pdf
    assert second.log == first.log
    assert second.synctex == first.synctex
    assert second.outputs == first.outputs


async def test_a_success_keeps_its_synctex_and_bbl_and_lists_every_output(
    manager: CompileManager, s3_store: S3Store
) -> None:
    bundle = raw_tar(project_files(CORPUS / "bibtex"))
    result = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    assert result.outcome is Outcome.SUCCEEDED, result.error
    assert result.synctex is not None
    assert result.synctex.project_root == "/work/project"
    synctex = await s3_store.get(result.synctex.key)
    assert len(synctex) == result.synctex.size
    names = gzip.decompress(synctex).decode().splitlines()
    assert "Input:1:/work/project/./main.tex" in names
    assert result.outputs is not None
    listed = {o.name: o for o in result.outputs}
    assert list(listed) == ["main.pdf", "main.log", "main.synctex.gz", "main.bbl"]
    assert b"\\bibitem" in await s3_store.get(listed["main.bbl"].key)
    assert listed["main.synctex.gz"].key == result.synctex.key


async def test_the_real_error_is_reported_not_typeset_text_shaped_like_one(
    manager: CompileManager, s3_store: S3Store
) -> None:
    bundle = raw_tar(project_files(SHARED / "corpus-real" / "error-location"))
    result = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert (result.error.file, result.error.line) == ("main.tex", 7)
    assert "Undefined control sequence" in result.error.message
    assert result.diagnostics is not None
    assert [(d.severity, d.file, d.line) for d in result.diagnostics.items] == [
        (Severity.BADBOX, "main.tex", 4),
        (Severity.ERROR, "main.tex", 7),
    ]


async def test_a_cache_hit_reports_the_diagnostics_of_the_compile_it_saved(
    manager: CompileManager, s3_store: S3Store
) -> None:
    source = (
        "\\documentclass{article}\n\\begin{document}\n"
        f"Unique {secrets.token_hex(6)}, see~\\ref{{nowhere}}.\n\\end{{document}}\n"
    )
    bundle = raw_tar([ProjectFile("main.tex", source.encode())])
    first = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    second = await submit(manager, s3_store, bundle, Engine.PDFLATEX)
    assert first.outcome is Outcome.SUCCEEDED
    assert second.cache_hit
    assert first.diagnostics is not None
    assert (
        Diagnostic(
            severity=Severity.WARNING,
            file="main.tex",
            line=3,
            message="Reference `nowhere' on page 1 undefined on input line 3.",
        )
        in first.diagnostics.items
    )
    assert second.diagnostics == first.diagnostics
