"""Projects shaped like what real authors send (../shared/corpus-real), through the services.

Each goes in as an author sends it: the manifest's ``main`` and ``engine`` when given, nothing
when null (the api finds the main file and reads the engine from a magic comment or a
latexmkrc). The applied PDF's text is read with pdftotext, as the manifest says.
"""

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from e2e_helpers import CORPUS_REAL, project_files, wait_final
from texpipe_testing.pdf import pdftotext

PWNED = Path("/tmp/texpipe-pwned-latexmkrc")  # what the manifest's hostile latexmkrc would make


def _manifest() -> dict[str, dict[str, Any]]:
    documents: dict[str, dict[str, Any]] = json.loads((CORPUS_REAL / "manifest.json").read_text())[
        "documents"
    ]
    return documents


async def _pdf_text(http: aiohttp.ClientSession, document_id: str) -> str:
    async with http.get(f"/v1/documents/{document_id}/pdf", params={"download": "1"}) as response:
        assert response.status == 200
        data = await response.read()

    return await asyncio.to_thread(pdftotext, data)


async def _submit(http: aiohttp.ClientSession, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"files": project_files(CORPUS_REAL / name), "compile": True}
    for field in ("main", "engine"):
        if spec.get(field) is not None:
            body[field] = spec[field]
    async with http.post("/v1/documents", json=body) as response:
        created: dict[str, Any] = await response.json()
        assert response.status == 201, (name, created)
        return created


def _today_as_latex_prints_it(when: datetime) -> str:
    return f"{when:%B} {when.day}, {when.year}"


async def test_real_projects_give_their_expected_results(http: aiohttp.ClientSession) -> None:
    assert (CORPUS_REAL / "manifest.json").exists(), f"corpus-real not found at {CORPUS_REAL}"
    documents = _manifest()
    PWNED.unlink(missing_ok=True)
    created = {name: await _submit(http, name, spec) for name, spec in documents.items()}
    finals = await asyncio.gather(
        *(wait_final(http, c["job_id"], timeout=300) for c in created.values())
    )
    jobs = dict(zip(created, finals, strict=True))
    for name, spec in documents.items():
        expect, job = spec["expect"], jobs[name]
        outcome = {"succeeded": "applied"}.get(expect["outcome"], expect["outcome"])
        assert job["state"] == outcome, (name, job)
        if "engine" in expect:
            assert job["engine"] == expect["engine"], (name, job)
        if "main" in expect:
            assert created[name]["main"] == expect["main"], (name, created[name])
        if outcome == "applied":
            text = await _pdf_text(http, created[name]["id"])
            for needle in expect.get("text_contains", []):
                assert needle in text, (name, needle, text[:2000])
            for needle in expect.get("text_excludes", []):
                assert needle not in text, (name, needle)
        else:
            error = job["error"]
            for needle in expect.get("error_contains", []):
                assert needle in f"{error['message']}\n{error['excerpt']}", (name, error)
            if "error_line" in expect:
                where = (error["file"], error["line"])
                assert where == (expect["error_line"]["file"], expect["error_line"]["line"]), error
    assert not PWNED.exists(), "a project's latexmkrc was executed"
    # \today prints the day the revision was saved.
    async with http.get(f"/v1/documents/{created['today-date']['id']}") as response:
        saved = datetime.fromisoformat((await response.json())["created_at"])
    assert _today_as_latex_prints_it(saved) in await _pdf_text(http, created["today-date"]["id"])
    # Beyond the first error, the log panel's list: the overfull box that printed a
    # 'name:line:'-shaped line is a bad box at its real place, not an error.
    listed = jobs["error-location"]["diagnostics"]["items"]
    assert ("error", "main.tex", 7) in {(d["severity"], d["file"], d["line"]) for d in listed}
    assert any(d["severity"] == "badbox" and d["file"] == "main.tex" for d in listed), listed
    # The engine's source is on the job.
    assert jobs["latexmkrc-engine-hint"]["engine_source"] == "latexmkrc"
    assert jobs["ctex-chinese"]["engine_source"] == "magic_comment"
