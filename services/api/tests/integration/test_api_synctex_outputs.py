"""SyncTeX both ways and a job's output files, through the api with real TeX output.

The SyncTeX files are made by a real pdflatex run as the compiler runs it (``-synctex=1``,
in the main file's folder, ``./main.tex``), here in a temporary folder: its names start
with that folder, which the result states as its ``project_root`` as the compiler states
``/work/project``. Queries run TeX Live's ``synctex`` in its bubblewrap sandbox.
"""

import asyncio
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any
from uuid import uuid4

from aiohttp.test_utils import TestClient
from texpipe_contracts.v1 import ObjectRef, OutputFile, PdfRef, SynctexRef
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.api_calls import create_document
from texpipe_testing.results import post_result, stored_pdf, succeeded

Client = TestClient[Any, Any]
# The shared folder lies beside the checkout (as in CI), unless the environment says otherwise.
SHARED = Path(
    os.environ.get("TEXPIPE_SHARED_DIR", Path(__file__).resolve().parents[4].parent / "shared")
)
ARTICLE = SHARED / "corpus" / "article"
INTRO = "Text of the shared introduction, long enough to fill a line or two of the page.\n"


def compile_project(root: Path, files: dict[str, str], main: str) -> tuple[bytes, bytes, int]:
    """pdflatex ``main`` of ``files`` written under ``root``: (PDF, .synctex.gz, pages)."""
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    folder, _, name = main.rpartition("/")
    cwd = root / folder
    subprocess.run(
        ["pdflatex", "-synctex=1", "-interaction=nonstopmode", "-halt-on-error",
         "-no-shell-escape", f"./{name}"],
        cwd=cwd, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    stem = cwd / name.removesuffix(".tex")
    pdf = stem.with_suffix(".pdf").read_bytes()
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
    pages = int(next(ln for ln in info.decode().splitlines() if ln.startswith("Pages:")).split()[1])
    return pdf, Path(f"{stem}.synctex.gz").read_bytes(), pages


async def applied_with_synctex(
    client: Client,
    tenant: dict[str, str],
    service: dict[str, str],
    s3: S3Store,
    tmp_path: Path,
    files: dict[str, str],
    main: str,
) -> tuple[str, str]:
    """A document of ``files`` whose compile (a real one) is applied with its SyncTeX file
    and output list: (document id, job id)."""
    created = await create_document(client, tenant, files=files, main=main, compile=True)
    pdf_data, synctex_data, pages = await asyncio.to_thread(compile_project, tmp_path, files, main)
    base = f"outputs/{uuid4().hex}"
    sha = hashlib.sha256(pdf_data).hexdigest()
    await s3.put(f"{base}/output.pdf", pdf_data, content_type="application/pdf", sha256=sha)
    await s3.put(f"{base}/output.synctex.gz", synctex_data, content_type="application/gzip")
    await s3.put(f"{base}/output.bbl", b"\\begin{thebibliography}{}", content_type="text/x-tex")
    pdf = PdfRef(key=f"{base}/output.pdf", size=len(pdf_data), sha256=sha, pages=pages)
    synctex = SynctexRef(
        key=f"{base}/output.synctex.gz", size=len(synctex_data), project_root=str(tmp_path)
    )
    bbl = ObjectRef(key=f"{base}/output.bbl", size=25)
    outputs = [
        OutputFile(key=pdf.key, size=pdf.size, name="main.pdf", content_type="application/pdf"),
        OutputFile(key=synctex.key, size=synctex.size, name="main.synctex.gz",
                   content_type="application/gzip"),
        OutputFile(key=bbl.key, size=bbl.size, name="main.bbl", content_type="text/x-tex"),
    ]  # fmt: skip
    result = succeeded(created["job_id"], created["id"], 1, pdf, synctex=synctex, outputs=outputs)
    status, answer = await post_result(client, service, result)
    assert (status, answer["status"]) == (200, "applied")
    return created["id"], created["job_id"]


async def get(client: Client, path: str, headers: dict[str, str], **query: Any) -> Any:
    response = await client.get(path, params=query, headers=headers)
    return response.status, await response.json()


async def test_synctex_answers_both_ways_for_the_article(
    client: Client,
    tenant_a: dict[str, str],
    tenant_b: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    tmp_path: Path,
) -> None:
    files = {"main.tex": (ARTICLE / "main.tex").read_text()}
    lines = files["main.tex"].splitlines()
    doc, _ = await applied_with_synctex(
        client, tenant_a, service_headers, s3_store, tmp_path, files, "main.tex"
    )
    code = f"/v1/documents/{doc}/synctex/code"
    pdf = f"/v1/documents/{doc}/synctex/pdf"
    # Every paragraph of the article, forward then back: the same line within one.
    paragraphs = [n for n, text in enumerate(lines, 1) if text.startswith("Paragraph ")]
    assert len(paragraphs) >= 30
    for line in paragraphs[::8]:
        status, forward = await get(client, code, tenant_a, file="main.tex", line=line)
        assert status == 200, forward
        box = forward["boxes"][0]
        assert box["width"] > 0
        x, y = box["h"] + box["width"] / 2, box["v"] - box["height"] / 2
        status, back = await get(client, pdf, tenant_a, page=box["page"], x=x, y=y)
        assert status == 200, back
        assert back["file"] == "main.tex"
        assert abs(back["line"] - line) <= 1, (line, back)
        assert back["revision"] == 1
    # Section 2's heading is on a later page than the title.
    heading = lines.index("\\section{Section 2}\\label{sec:1}") + 1
    status, forward = await get(client, code, tenant_a, file="main.tex", line=heading)
    assert forward["boxes"][0]["page"] > 1
    # Bad input: problem+json with a code, and another tenant sees nothing.
    status, problem = await get(client, pdf, tenant_a, page=999, x=10, y=10)
    assert (status, problem["code"]) == (422, "PAGE_OUT_OF_RANGE")
    status, problem = await get(client, pdf, tenant_a, page=1, x="nan", y=10)
    assert (status, problem["code"]) == (422, "INVALID_REQUEST")
    status, problem = await get(client, code, tenant_a, file="nope.tex", line=1)
    assert (status, problem["code"]) == (404, "NOT_FOUND")
    status, problem = await get(client, code, tenant_a, file="main.tex", line=0)
    assert (status, problem["code"]) == (422, "INVALID_REQUEST")
    status, problem = await get(client, pdf, tenant_b, page=1, x=10, y=10)
    assert (status, problem["code"]) == (404, "NOT_FOUND")


async def test_names_inside_the_file_map_to_project_paths_from_a_subfolder(
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    tmp_path: Path,
) -> None:
    main = "\\documentclass{article}\n\\begin{document}\nFirst.\n\n\\input{../shared/intro}\n\n\\end{document}\n"  # noqa: E501
    files = {"paper/main.tex": main, "shared/intro.tex": "% intro\n" + INTRO * 3}
    doc, _ = await applied_with_synctex(
        client, tenant_a, service_headers, s3_store, tmp_path, files, "paper/main.tex"
    )
    status, forward = await get(
        client, f"/v1/documents/{doc}/synctex/code", tenant_a, file="shared/intro.tex", line=2
    )
    assert status == 200, forward
    box = forward["boxes"][0]
    status, back = await get(
        client, f"/v1/documents/{doc}/synctex/pdf", tenant_a,
        page=box["page"], x=box["h"] + 5, y=box["v"] - 2,
    )  # fmt: skip
    assert status == 200, back
    assert (back["file"], back["line"]) == ("shared/intro.tex", 2)


async def test_outputs_are_listed_and_downloadable_by_their_tenant_only(
    client: Client,
    tenant_a: dict[str, str],
    tenant_b: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
    tmp_path: Path,
) -> None:
    files = {"main.tex": "\\documentclass{article}\\begin{document}Hi\\end{document}\n"}
    _, job = await applied_with_synctex(
        client, tenant_a, service_headers, s3_store, tmp_path, files, "main.tex"
    )
    status, listed = await get(client, f"/v1/jobs/{job}/outputs", tenant_a)
    assert status == 200
    names = [o["name"] for o in listed["outputs"]]
    assert names == ["main.pdf", "main.synctex.gz", "main.bbl"]
    status, shown = await get(client, f"/v1/jobs/{job}", tenant_a)
    assert shown["outputs"] == listed["outputs"]
    bbl = next(o for o in listed["outputs"] if o["name"] == "main.bbl")
    response = await client.get(bbl["url"], headers=tenant_a)
    assert response.status == 200
    assert await response.read() == b"\\begin{thebibliography}{}"
    assert response.headers["Content-Type"] == "text/x-tex"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="main.bbl"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response = await client.get(bbl["url"], headers=tenant_b)
    assert (response.status, (await response.json())["code"]) == (404, "NOT_FOUND")
    status, problem = await get(client, f"/v1/jobs/{job}/outputs/main.aux", tenant_a)
    assert (status, problem["code"]) == (404, "NO_OUTPUT_FILE")
    status, problem = await get(client, f"/v1/jobs/{job}/outputs", tenant_b)
    assert (status, problem["code"]) == (404, "NOT_FOUND")


async def test_synctex_problems_without_a_pdf_or_without_synctex(
    client: Client,
    tenant_a: dict[str, str],
    service_headers: dict[str, str],
    s3_store: S3Store,
) -> None:
    created = await create_document(client, tenant_a, compile=True)
    path = f"/v1/documents/{created['id']}/synctex/code"
    status, problem = await get(client, path, tenant_a, file="main.tex", line=1)
    assert (status, problem["code"]) == (404, "NO_PDF")
    pdf = await stored_pdf(s3_store)
    status, _ = await post_result(
        client, service_headers, succeeded(created["job_id"], created["id"], 1, pdf)
    )
    assert status == 200
    status, problem = await get(client, path, tenant_a, file="main.tex", line=1)
    assert (status, problem["code"]) == (404, "NO_SYNCTEX")
    # A result from a compiler that listed no outputs still offers its PDF.
    status, listed = await get(client, f"/v1/jobs/{created['job_id']}/outputs", tenant_a)
    assert [o["name"] for o in listed["outputs"]] == ["output.pdf"]
