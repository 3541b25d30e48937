"""Auxiliary states and preamble formats through the compile manager and the real S3: each
document's own, used only while they fit, and the same text as a compile from scratch."""

import hashlib
import io
import tarfile
import uuid
from pathlib import Path

import pytest_asyncio
from conftest import compile_policy  # type: ignore[import-not-found]
from prometheus_client import REGISTRY
from texpipe_compiler.compile_manager import CompileManager
from texpipe_compiler.engines import probe_engines
from texpipe_compiler.format_files import FormatFiles
from texpipe_compiler.latex_runner import LatexRunner
from texpipe_compiler.outputs import PageCounter
from texpipe_compiler.slots import SlotPool
from texpipe_compiler.start_points import StartPoints
from texpipe_compiler.state_store import StateStore
from texpipe_compiler.storage import OutputStore
from texpipe_contracts.bundle import source_key
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileRequested,
    Engine,
    Outcome,
    SourceBundleRef,
)
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.pdf import pdftotext

DOC = r"""\documentclass{article}
\input{macros}
%(PRE)
\begin{document}
\section{One}\label{one} \name{} and Section~\ref{two}. %(EDIT)
\section{Two}\label{two} Back to~\ref{one}.
\end{document}
"""


@pytest_asyncio.fixture
async def starts(
    runner: LatexRunner, s3_store: S3Store, sandbox_uids: range, format_files: FormatFiles
) -> StartPoints:
    """States and formats as the service keeps them."""
    uid_base = sandbox_uids.start if len(sandbox_uids) > 1 else None
    states = StateStore(s3_store, format_files)
    return StartPoints(states, runner, SlotPool(1, uid_base), dump_timeout_s=60)


@pytest_asyncio.fixture
async def manager(
    runner: LatexRunner,
    s3_store: S3Store,
    tectonic_dir: Path,
    sandbox_uids: range,
    page_counter: PageCounter,
    starts: StartPoints,
) -> CompileManager:
    """The compile manager with incremental compiles on."""
    engines = await probe_engines([Engine.PDFLATEX], tectonic_dir)
    uid_base = sandbox_uids.start + 1 if len(sandbox_uids) > 1 else None
    return CompileManager(
        compile_policy(), OutputStore(s3_store), runner, engines, SlotPool(1, uid_base),
        page_counter, starts,
    )  # fmt: skip


def bundle(macros: str = "Alpha", pre: str = "", edit: str = "") -> bytes:
    """A tar of the test document."""
    files = {
        "main.tex": DOC.replace("%(PRE)", pre).replace("%(EDIT)", edit).encode(),
        "macros.tex": f"\\newcommand\\name{{{macros}}}\n".encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def compile_revision(
    manager: CompileManager, store: S3Store, document: uuid.UUID, revision: int, data: bytes
) -> tuple[CompileCompleted, str]:
    """Compile ``revision`` of ``document`` (its own date); its outcome and PDF text."""
    digest = hashlib.sha256(data).hexdigest()
    await store.put(source_key(digest), data, content_type="application/x-tar")
    request = CompileRequested(
        job_id=uuid.uuid4(),
        document_id=document,
        revision=revision,
        source=SourceBundleRef(key=source_key(digest), sha256=digest, size=len(data)),
        main_file="main.tex",
        engine=Engine.PDFLATEX,
        timeout_ms=60_000,
        source_date_epoch=1_760_000_000 + revision * 86_400,
    )
    result = await manager.compile(request)
    assert result.outcome is Outcome.SUCCEEDED, result.error
    assert result.pdf is not None
    return result, pdftotext(await store.get(result.pdf.key))


def count(name: str, **labels: str) -> float:
    """A counter's value now."""
    return REGISTRY.get_sample_value(f"texpipe_compile_{name}_total", labels) or 0.0


async def test_a_document_starts_from_its_own_state_and_format_while_they_fit(
    manager: CompileManager, starts: StartPoints, s3_store: S3Store
) -> None:
    doc, other = uuid.uuid4(), uuid.uuid4()
    hits, dumped = (
        count("preamble_formats", result="hit", reason=""),
        count("preamble_formats", result="dumped", reason=""),
    )
    await compile_revision(manager, s3_store, doc, 1, bundle())  # first sight
    await compile_revision(manager, s3_store, doc, 2, bundle(edit="Two."))  # second: dump
    await starts.wait_dumps()
    assert count("preamble_formats", result="dumped", reason="") == dumped + 1
    assert await s3_store.keys(f"compiler/aux/{doc}/")
    assert any(k.endswith(".fmt") for k in await s3_store.keys(f"compiler/formats/{doc}/"))

    third, text = await compile_revision(manager, s3_store, doc, 3, bundle(edit="Three."))
    assert count("preamble_formats", result="hit", reason="") == hits + 1
    # Another document with the very same source: nothing of the first one is found (its
    # result cache entry is scoped to it), it compiles from scratch to the same text.
    seeded = count("aux_states", result="seeded", reason="found")
    again, scratch = await compile_revision(manager, s3_store, other, 3, bundle(edit="Three."))
    assert not again.cache_hit
    assert count("aux_states", result="seeded", reason="found") == seeded
    assert again.pdf is not None
    assert third.pdf is not None
    assert (text, third.pdf.pages) == (scratch, again.pdf.pages)
    assert "Alpha and Section 2" in text
    assert not any(k.endswith(".fmt") for k in await s3_store.keys(f"compiler/formats/{other}/"))

    # A file the preamble reads changed: the old format is not loaded.
    misses = count("preamble_formats", result="miss", reason="inputs_changed")
    _, text = await compile_revision(manager, s3_store, doc, 4, bundle(macros="Beta"))
    assert count("preamble_formats", result="miss", reason="inputs_changed") == misses + 1
    assert "Beta and Section 2" in text
    # A changed preamble: a new identity, never the old format.
    first_sight = count("preamble_formats", result="miss", reason="first_sight")
    pre = r"\newcommand\extra{Gamma}"
    _, text = await compile_revision(
        manager, s3_store, doc, 5, bundle(macros="Beta", pre=pre, edit=r"\extra")
    )
    assert count("preamble_formats", result="miss", reason="first_sight") == first_sight + 1
    assert count("preamble_formats", result="hit", reason="") == hits + 1
    assert "Gamma" in text
