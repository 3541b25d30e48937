"""Every bad input gets its problem+json with a stable code, and nothing else breaks."""

import base64
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient

HELLO = "\\documentclass{article}\n\\begin{document}\nHello\n\\end{document}\n"
Client = TestClient[Any, Any]


async def expect_problem(response: Any, status: int, code: str, *words: str) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    problem: dict[str, Any] = await response.json()
    assert problem["status"] == status, problem
    assert problem["code"] == code, problem
    for word in words:
        assert word in problem["detail"], problem
    return problem


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("../secret.tex", ["'..'"]),
        ("/etc/passwd", ["absolute"]),
        ("dir\\main.tex", ["backslash"]),
        ("a\x00b.tex", ["U+0000"]),
        ("a\u202eb.tex", ["U+202E"]),
        ("a//b.tex", ["empty"]),
        ("MAIN.tex", ["letter case"]),
    ],
)
async def test_path_rules(
    client: Client, tenant_a: dict[str, str], path: str, words: list[str]
) -> None:
    body = {"files": {"main.tex": HELLO, path: "x"}}
    response = await client.post("/v1/documents", json=body, headers=tenant_a)
    problem = await expect_problem(response, 422, "PATH_RULE_VIOLATION", *words)
    assert problem.get("path", path) == path


async def test_several_main_candidates_are_listed(client: Client, tenant_a: dict[str, str]) -> None:
    body = {"files": {"a.tex": HELLO, "b.tex": HELLO}}
    response = await client.post("/v1/documents", json=body, headers=tenant_a)
    problem = await expect_problem(response, 422, "MAIN_FILE_AMBIGUOUS", "a.tex", "b.tex")
    assert problem["candidates"] == ["a.tex", "b.tex"]


async def test_what_authors_send_is_taken(client: Client, tenant_a: dict[str, str]) -> None:
    body = {
        "files": {
            "My Thesis.tex": HELLO,
            "Kapitel/Einf\u00fchrung (1).tex": "x",
            ".latexmkrc": "$pdf_mode = 5;",
        }
    }
    response = await client.post("/v1/documents", json=body, headers=tenant_a)
    assert response.status == 201, await response.text()
    created = await response.json()
    assert (created["main"], created["engine"]) == ("My Thesis.tex", "xelatex")
    assert created["engine_source"] == "latexmkrc"


async def test_limits(client: Client, tenant_a: dict[str, str]) -> None:
    # The session's api allows 20 files, 64 KiB of sources and 256 KiB of body.
    many = {f"f{i}.tex": "x" for i in range(21)} | {"main.tex": HELLO}
    response = await client.post("/v1/documents", json={"files": many}, headers=tenant_a)
    await expect_problem(response, 413, "TOO_MANY_FILES", "max_files")

    big = {"main.tex": HELLO, "big.tex": "x" * (65 * 1024)}
    response = await client.post("/v1/documents", json={"files": big}, headers=tenant_a)
    await expect_problem(response, 413, "SOURCE_TOO_LARGE", "max_total_bytes")

    huge = {"main.tex": HELLO, "huge.tex": "x" * (300 * 1024)}
    response = await client.post("/v1/documents", json={"files": huge}, headers=tenant_a)
    await expect_problem(response, 413, "BODY_TOO_LARGE", "max_body_bytes")


@pytest.mark.parametrize(
    ("body", "code", "word"),
    [
        ({"files": {"main.tex": {"base64": "not base64!"}}}, "INVALID_REQUEST", "base64"),
        ({"files": {"other.tex": HELLO}, "main": "main.tex"}, "MAIN_FILE_MISSING", "main.tex"),
        ({"files": {}}, "INVALID_REQUEST", "at least one"),
        ({"files": {"main.tex": HELLO}, "engine": "troff"}, "INVALID_REQUEST", "engine"),
        ({"files": {"main.tex": HELLO}, "main": "../main.tex"}, "PATH_RULE_VIOLATION", "main"),
        ({"files": {"main.tex": 42}}, "INVALID_REQUEST", "files.main.tex"),
        ({"files": {"main.tex": HELLO}, "colour": "blue"}, "INVALID_REQUEST", "colour"),
        ({"nothing": True}, "INVALID_REQUEST", "files"),
    ],
)
async def test_bad_bodies(
    client: Client, tenant_a: dict[str, str], body: dict[str, Any], code: str, word: str
) -> None:
    response = await client.post("/v1/documents", json=body, headers=tenant_a)
    await expect_problem(response, 422, code, word)


async def test_malformed_requests(client: Client, tenant_a: dict[str, str]) -> None:
    response = await client.post("/v1/documents", data=b"{not json", headers=tenant_a)
    await expect_problem(response, 422, "INVALID_REQUEST")
    response = await client.post("/v1/documents", headers=tenant_a)
    await expect_problem(response, 422, "INVALID_REQUEST", "JSON body")
    response = await client.post(
        "/v1/documents",
        data=b"files=x",
        headers={**tenant_a, "Content-Type": "application/x-www-form-urlencoded"},
    )
    await expect_problem(response, 422, "INVALID_REQUEST", "JSON")

    created = await client.post(
        "/v1/documents", json={"files": {"main.tex": HELLO}}, headers=tenant_a
    )
    doc = await created.json()
    response = await client.put(
        f"/v1/documents/{doc['id']}",
        json={"files": {"main.tex": HELLO}},
        headers={**tenant_a, "If-Match": "latest"},
    )
    await expect_problem(response, 422, "INVALID_REQUEST", "If-Match")
    response = await client.post(
        f"/v1/documents/{doc['id']}/compile", headers={**tenant_a, "Idempotency-Key": "k" * 201}
    )
    await expect_problem(response, 422, "INVALID_REQUEST", "Idempotency-Key")

    compiled = await (
        await client.post(f"/v1/documents/{doc['id']}/compile", headers=tenant_a)
    ).json()
    for wait in ["61", "-1", "soon"]:
        response = await client.get(f"/v1/jobs/{compiled['job_id']}?wait={wait}", headers=tenant_a)
        await expect_problem(response, 422, "INVALID_REQUEST", "wait")
    response = await client.get(f"/v1/jobs/{compiled['job_id']}/log", headers=tenant_a)
    await expect_problem(response, 404, "NO_LOG")
    response = await client.get(f"/v1/documents/{doc['id']}/pdf", headers=tenant_a)
    await expect_problem(response, 404, "NO_PDF")


async def test_unknown_things_are_404_and_wrong_methods_405(
    client: Client, tenant_a: dict[str, str]
) -> None:
    for path in [f"/v1/documents/{uuid4()}", "/v1/documents/not-a-uuid", f"/v1/jobs/{uuid4()}"]:
        await expect_problem(await client.get(path, headers=tenant_a), 404, "NOT_FOUND")
    response = await client.post(f"/v1/documents/{uuid4()}/compile", headers=tenant_a)
    await expect_problem(response, 404, "NOT_FOUND")
    await expect_problem(await client.get("/nowhere"), 404, "NOT_FOUND")
    response = await client.delete("/v1/documents", headers=tenant_a)
    await expect_problem(response, 405, "METHOD_NOT_ALLOWED")


async def test_binary_files_keep_their_bytes(client: Client, tenant_a: dict[str, str]) -> None:
    raw = bytes(range(256))
    body = {"files": {"main.tex": HELLO, "data.bin": {"base64": base64.b64encode(raw).decode()}}}
    response = await client.post("/v1/documents", json=body, headers=tenant_a)
    assert response.status == 201
