"""HTTP helpers for the end-to-end tests (the way a platform service uses texpipe)."""

import asyncio
import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pypdf import PdfReader
from texpipe_contracts.jobs import FINAL_STATES
from texpipe_testing.processes import ServiceProcess

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"
CORPUS_REAL = CORPUS.with_name("corpus-real")
# Long enough for the real projects (CJK fonts, biber) on a loaded two-core machine; the
# corpus' endless document holds one compile slot this long.
COMPILE_TIMEOUT_MS = 20000


def project_files(folder: Path) -> dict[str, Any]:
    """A corpus project's files: text as text, anything else (figures) as base64."""
    files: dict[str, Any] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            files[path.relative_to(folder).as_posix()] = data.decode("utf-8")
        except UnicodeDecodeError:
            files[path.relative_to(folder).as_posix()] = {"base64": base64.b64encode(data).decode()}
    return files


def variant(i: int, tag: str) -> dict[str, str]:
    """A distinct small document (distinct content, so no cache hit)."""
    return {
        "main.tex": "\\documentclass{article}\\begin{document}"
        f"Batch {tag} number {i}.\\end{{document}}\n"
    }


def busy(iterations: int, tag: str) -> dict[str, str]:
    """A document whose compile counts to ``iterations`` first (pdfTeX counted about three
    million a second on this machine), so that it is still compiling when a fault strikes."""
    return {
        "main.tex": "\\documentclass{article}\\begin{document}\\newcount\\n"
        f"\\loop\\advance\\n1 \\ifnum\\n<{iterations}\\repeat Busy {tag}.\\end{{document}}\n"
    }


async def create(
    http: aiohttp.ClientSession, files: dict[str, Any], *, compile: bool = True
) -> dict[str, Any]:
    """POST /v1/documents; returns the 201 body."""
    async with http.post("/v1/documents", json={"files": files, "compile": compile}) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 201, body
        return body


async def update(
    http: aiohttp.ClientSession, document_id: str, revision: int, files: dict[str, str]
) -> dict[str, Any]:
    """PUT /v1/documents/{id} with compile=true; returns the answer body."""
    async with http.put(
        f"/v1/documents/{document_id}",
        json={"files": files, "compile": True},
        headers={"If-Match": str(revision)},
    ) as response:
        body: dict[str, Any] = await response.json()
        assert response.status in (200, 201), body
        return body


async def wait_final(
    http: aiohttp.ClientSession, job_id: str, timeout: float = 90.0
) -> dict[str, Any]:
    """Long-poll a job until it is final."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(f"/v1/jobs/{job_id}", params={"wait": "20"}) as response:
            job: dict[str, Any] = await response.json()
            assert response.status == 200, job
        if job["state"] in FINAL_STATES:
            return job
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} still {job['state']}"


async def document(http: aiohttp.ClientSession, document_id: str) -> dict[str, Any]:
    """GET /v1/documents/{id}."""
    async with http.get(f"/v1/documents/{document_id}") as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


async def pdf_text(http: aiohttp.ClientSession, document_id: str) -> tuple[int, str]:
    """Download the applied PDF; its page count and text."""
    async with http.get(f"/v1/documents/{document_id}/pdf", params={"download": "1"}) as response:
        assert response.status == 200
        data = await response.read()
    reader = await asyncio.to_thread(PdfReader, io.BytesIO(data))
    text = await asyncio.to_thread(lambda: "\n".join(p.extract_text() for p in reader.pages))
    return len(reader.pages), text


@dataclass
class Pipeline:
    """The running services and how to reach them."""

    api_url: str
    token: str
    env: dict[str, str]
    services: dict[str, ServiceProcess]
    log_dir: Path

    def restart(self, name: str) -> None:
        """Start a service again after it was stopped or killed."""
        old = self.services[name]
        self.services[name] = ServiceProcess(
            old.module, env=old.env, log_path=old.log_path, health_url=old.health_url
        ).start(timeout=60)


def manifest(corpus: Path) -> dict[str, dict[str, Any]]:
    """The corpus manifest's documents."""
    documents: dict[str, dict[str, Any]] = json.loads((corpus / "manifest.json").read_text())[
        "documents"
    ]
    return documents


def log_events(process: ServiceProcess, event: str) -> list[dict[str, Any]]:
    """Every JSON log line of ``process`` (all its runs: they share one file) for ``event``."""
    if not process.log_path.exists():
        return []
    found = []
    for line in process.log_path.read_text(errors="replace").splitlines():
        if f'"{event}"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            found.append(entry)
    return found


async def wait_for_event(
    process: ServiceProcess, event: str, *, job_id: str | None = None, count: int = 1
) -> None:
    """Until ``process`` logged ``event`` (for ``job_id``) ``count`` times, 120 s at most."""
    async with asyncio.timeout(120):
        while True:
            found = [e for e in log_events(process, event) if job_id in (None, e.get("job_id"))]
            if len(found) >= count:
                return
            await asyncio.sleep(0.05)
