"""SyncTeX and output files through the three running services, as an editor uses them."""

from pathlib import Path
from typing import Any

import aiohttp
from e2e_helpers import create, project_files, wait_final


async def get_json(http: aiohttp.ClientSession, path: str, **query: Any) -> tuple[int, Any]:
    async with http.get(path, params=query) as response:
        return response.status, await response.json()


async def test_synctex_answers_both_ways_for_the_article_within_a_line(
    http: aiohttp.ClientSession, corpus: Path
) -> None:
    files = project_files(corpus / "article")
    lines = files["main.tex"].splitlines()
    created = await create(http, files)
    job = await wait_final(http, created["job_id"])
    assert job["state"] == "applied", job
    assert [o["name"] for o in job["outputs"]] == ["main.pdf", "main.log", "main.synctex.gz"]
    doc = created["id"]
    heading = lines.index("\\section{Section 3}\\label{sec:2}") + 1
    for line in (heading, heading + 1, heading + 9):
        status, forward = await get_json(
            http, f"/v1/documents/{doc}/synctex/code", file="main.tex", line=line
        )
        assert status == 200, forward
        box = forward["boxes"][0]
        x, y = box["h"] + min(box["width"] / 2, 20), box["v"] - box["height"] / 2
        status, back = await get_json(
            http, f"/v1/documents/{doc}/synctex/pdf", page=box["page"], x=x, y=y
        )
        assert status == 200, back
        assert (back["file"], back["revision"]) == ("main.tex", 1)
        assert abs(back["line"] - line) <= 1, (line, forward, back)


async def test_a_bibliography_compile_offers_its_bbl(
    http: aiohttp.ClientSession, corpus: Path
) -> None:
    created = await create(http, project_files(corpus / "bibtex"))
    job = await wait_final(http, created["job_id"])
    assert job["state"] == "applied", job
    status, listed = await get_json(http, f"/v1/jobs/{job['id']}/outputs")
    assert status == 200
    bbl = next(o for o in listed["outputs"] if o["name"] == "main.bbl")
    async with http.get(bbl["url"]) as response:
        assert response.status == 200
        data = await response.read()
    assert len(data) == bbl["size"]
    assert b"\\bibitem" in data
