"""Shared helpers of the compiler's integration tests (imported by path via conftest)."""

import hashlib
import io
import json
import os
import secrets
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pypdf import PdfReader
from pypdf.generic import IndirectObject
from texpipe_compiler.bundle_reader import ProjectFile
from texpipe_compiler.compile_manager import CompileManager
from texpipe_contracts.bundle import source_key
from texpipe_contracts.v1 import (
    CompileCompleted,
    CompileRequested,
    Engine,
    Outcome,
    SourceBundleRef,
)
from texpipe_servicekit.s3 import S3Store

# The shared folder lies beside the checkout (as in CI), unless the environment says otherwise.
SHARED = Path(
    os.environ.get("TEXPIPE_SHARED_DIR", Path(__file__).resolve().parents[4].parent / "shared")
)
CORPUS = SHARED / "corpus"
HOSTILE = SHARED / "corpus-hostile"
CANARY_FILES = (Path("/tmp/texpipe-canary.txt"), Path("/tmp/texpipe-canary.tex"))
PWNED = Path("/tmp/texpipe-pwned")
MANIFEST: dict[str, Any] = json.loads((CORPUS / "manifest.json").read_text())["documents"]


def project_files(folder: Path) -> list[ProjectFile]:
    """Every file under ``folder``, as project files."""
    return [
        ProjectFile(str(p.relative_to(folder)), p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def hostile_cases() -> list[tuple[str, list[ProjectFile]]]:
    """(name, files) of each hostile case: a folder, or a single .tex as main.tex."""
    cases = []
    for entry in sorted(HOSTILE.iterdir()):
        if entry.is_dir():
            cases.append((entry.name, project_files(entry)))
        elif entry.suffix == ".tex":
            cases.append((entry.stem, [ProjectFile("main.tex", entry.read_bytes())]))
    return cases


def plant_canary() -> str:
    """Write a fresh secret to the canary files; make sure the pwned marker is absent."""
    secret = "CANARY-" + secrets.token_hex(12)
    for path in CANARY_FILES:
        path.write_text(secret + "\n")
        path.chmod(0o644)
    PWNED.unlink(missing_ok=True)
    return secret


def pdf_streams_text(data: bytes) -> str:
    """The PDF's extracted text plus every decoded stream (a leak may hide in either)."""
    reader = PdfReader(io.BytesIO(data), strict=False)
    parts = [page.extract_text() or "" for page in reader.pages]
    ids = [(num, gen) for gen, nums in reader.xref.items() for num in nums]
    ids += [(num, 0) for num in reader.xref_objStm]
    for num, gen in ids:
        try:
            obj = IndirectObject(num, gen, reader).get_object()
        except Exception:
            continue
        get_data = getattr(obj, "get_data", None)
        if get_data is not None:
            try:
                parts.append(get_data().decode("latin-1"))
            except Exception:
                continue
    return "\n".join(parts)


def processes_of(uids: range) -> Iterator[str]:
    """Command names of live sandbox processes: real uid in ``uids`` and, when the tests do
    not run as root (every sandbox then has the tests' own uid, like pytest and SeaweedFS),
    inside a pid namespace of their own or bubblewrap itself.

    Zombies are dead already (their parent died and this machine's pid 1 may not reap).
    """
    shared_uid = os.geteuid() != 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                comm = (entry / "comm").read_text().strip()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) not in uids or fields["State"].strip()[:1] == "Z":
                continue
            sandboxed = len(fields.get("NSpid", "").split()) > 1 or comm == "bwrap"
            if sandboxed or not shared_uid:
                yield comm


def raw_tar(
    files: list[ProjectFile], *, links: dict[str, str] | None = None, hard: bool = False
) -> bytes:
    """A tar of ``files`` with no name checks (hostile bundles), plus links if asked."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in files:
            info = tarfile.TarInfo(f.path)
            info.size = len(f.data)
            tar.addfile(info, io.BytesIO(f.data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


async def submit(
    manager: CompileManager,
    store: S3Store,
    bundle: bytes,
    engine: Engine,
    *,
    timeout_ms: int = 60_000,
    main_file: str = "main.tex",
) -> CompileCompleted:
    """Upload ``bundle`` as a source and run one compile request through ``manager``."""
    digest = hashlib.sha256(bundle).hexdigest()
    await store.put(source_key(digest), bundle, content_type="application/x-tar")
    request = CompileRequested(
        job_id=uuid.uuid4(),
        document_id=uuid.uuid4(),
        revision=1,
        source=SourceBundleRef(key=source_key(digest), sha256=digest, size=len(bundle)),
        main_file=main_file,
        engine=engine,
        timeout_ms=timeout_ms,
    )
    return await manager.compile(request)


async def outputs_of(store: S3Store, result: CompileCompleted) -> tuple[bytes, str]:
    """(PDF bytes or b"", log text or "") of a result."""
    pdf = await store.get(result.pdf.key) if result.pdf else b""
    log = (await store.get(result.log.key)).decode() if result.log else ""
    return pdf, log


def magic_engine(files: list[ProjectFile]) -> Engine:
    """The engine a main.tex asks for with '% !TEX program = NAME', else pdflatex."""
    main = next(f for f in files if f.path == "main.tex").data.decode("utf-8", "replace")
    for line in main.splitlines()[:5]:
        if line.lower().startswith("% !tex program"):
            return Engine(line.split("=", 1)[1].strip())
    return Engine.PDFLATEX


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
