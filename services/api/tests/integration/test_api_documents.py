"""Documents and compile requests over HTTP, against the real PostgreSQL, S3 and RabbitMQ."""

import base64
import hashlib
import io
import tarfile
from typing import Any
from uuid import UUID

from aiohttp.test_utils import TestClient
from texpipe_contracts.bundle import build_bundle
from texpipe_servicekit.s3 import S3Store
from texpipe_testing.api_calls import HELLO, create_document

Client = TestClient[Any, Any]


async def test_create_stores_the_bundle_once_and_reads_back(
    client: Client, tenant_a: dict[str, str], s3_store: S3Store
) -> None:
    files = {"main.tex": HELLO, "img/logo.png": {"base64": base64.b64encode(b"\x89PNG").decode()}}
    first = await create_document(client, tenant_a, files=files)
    second = await create_document(client, tenant_a, files=files)
    assert first["revision"] == 1
    assert first["engine"] == "pdflatex"
    assert first["job_id"] is None
    assert first["id"] != second["id"]

    bundle = build_bundle({"main.tex": HELLO.encode(), "img/logo.png": b"\x89PNG"})
    info = await s3_store.head(bundle.key)
    assert info is not None
    assert info.sha256 == bundle.sha256
    assert info.size == bundle.size
    stored = await s3_store.get(bundle.key)
    with tarfile.open(fileobj=io.BytesIO(stored)) as tar:
        assert sorted(tar.getnames()) == ["img/logo.png", "main.tex"]
    assert hashlib.sha256(stored).hexdigest() == bundle.sha256

    response = await client.get(f"/v1/documents/{first['id']}", headers=tenant_a)
    assert response.status == 200
    document = await response.json()
    assert document["revision"] == 1
    assert document["main"] == "main.tex"
    assert document["pdf"] is None
    assert document["latest_job"] is None
    assert response.headers["ETag"] == '"1"'


async def test_engine_from_request_else_magic_comment_else_pdflatex(
    client: Client, tenant_a: dict[str, str]
) -> None:
    magic = "% !TEX program = xelatex\n" + HELLO
    implied = await create_document(client, tenant_a, files={"main.tex": magic})
    assert implied["engine"] == "xelatex"
    explicit = await create_document(client, tenant_a, files={"main.tex": magic}, engine="lualatex")
    assert explicit["engine"] == "lualatex"
    other_main = await create_document(
        client, tenant_a, files={"doc.tex": "%!TEX TS-program = LuaLaTeX\n" + HELLO}, main="doc.tex"
    )
    assert other_main["engine"] == "lualatex"


async def test_update_makes_a_revision_and_if_match_guards_it(
    client: Client, tenant_a: dict[str, str]
) -> None:
    doc = await create_document(client, tenant_a)
    url = f"/v1/documents/{doc['id']}"
    body = {"files": {"main.tex": HELLO + "% two\n"}}
    response = await client.put(url, json=body, headers={**tenant_a, "If-Match": '"1"'})
    assert response.status == 200
    assert (await response.json())["revision"] == 2
    response = await client.put(url, json=body, headers={**tenant_a, "If-Match": "1"})
    assert response.status == 412
    problem = await response.json()
    assert problem["code"] == "REVISION_MISMATCH"
    assert problem["current_revision"] == 2
    assert response.content_type == "application/problem+json"
    response = await client.put(url, json={**body, "compile": True}, headers=tenant_a)
    updated = await response.json()
    assert updated["revision"] == 3
    assert updated["job_id"] is not None
    document = await (await client.get(url, headers=tenant_a)).json()
    assert document["revision"] == 3
    assert document["latest_job"]["id"] == updated["job_id"]
    assert document["latest_job"]["revision"] == 3


async def test_compile_is_accepted_published_and_idempotent(
    client: Client, tenant_a: dict[str, str], published: Any
) -> None:
    doc = await create_document(client, tenant_a, compile=True)
    assert doc["job_id"] is not None
    url = f"/v1/documents/{doc['id']}/compile"
    response = await client.post(url, headers=tenant_a)
    assert response.status == 202
    job = await response.json()
    assert job["state"] == "queued"
    assert response.headers["Location"] == f"/v1/jobs/{job['job_id']}"

    keyed = {**tenant_a, "Idempotency-Key": "build-42"}
    first = await (await client.post(url, headers=keyed)).json()
    again = await client.post(url, headers=keyed)
    assert again.status == 202
    assert (await again.json())["job_id"] == first["job_id"]

    ids = [UUID(doc["job_id"]), UUID(job["job_id"]), UUID(first["job_id"])]
    await published.wait_for(ids)
    assert all(len(published.by_job[i]) == 1 for i in ids)

    status = await client.get(f"/v1/jobs/{job['job_id']}", headers=tenant_a)
    assert status.status == 200
    body = await status.json()
    assert body["state"] == "queued"
    assert body["document_id"] == doc["id"]


async def test_tenants_see_only_their_own(
    client: Client, tenant_a: dict[str, str], tenant_b: dict[str, str]
) -> None:
    doc = await create_document(client, tenant_a, compile=True)
    for method, path in [
        ("GET", f"/v1/documents/{doc['id']}"),
        ("PUT", f"/v1/documents/{doc['id']}"),
        ("POST", f"/v1/documents/{doc['id']}/compile"),
        ("GET", f"/v1/documents/{doc['id']}/pdf"),
        ("GET", f"/v1/jobs/{doc['job_id']}"),
        ("GET", f"/v1/jobs/{doc['job_id']}/log"),
    ]:
        response = await client.request(
            method, path, headers=tenant_b, json={"files": {"main.tex": HELLO}}
        )
        assert response.status == 404, (method, path)
        assert (await response.json())["code"] == "NOT_FOUND"
    # Tenant A's document is untouched by B's attempts.
    document = await (await client.get(f"/v1/documents/{doc['id']}", headers=tenant_a)).json()
    assert document["revision"] == 1


async def test_credentials_are_required(client: Client, tenant_a: dict[str, str]) -> None:
    for headers in [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic Zm9vOmJhcg=="}]:
        response = await client.post("/v1/documents", json={"files": {}}, headers=headers)
        assert response.status == 401
        assert (await response.json())["code"] == "UNAUTHORIZED"
    # The tenant token does not open /internal.
    response = await client.post(
        f"/internal/v1/jobs/{UUID(int=1)}/dead",
        json={"reason": "x", "attempts": 1, "queue": "q"},
        headers=tenant_a,
    )
    assert response.status == 401
