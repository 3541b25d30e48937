"""Requests the api's integration tests make through aiohttp's test client.

A module rather than conftest helpers: pytest imports test files with ``importlib`` here, so
a conftest cannot be imported by name.
"""

from typing import Any

from aiohttp.test_utils import TestClient

HELLO = "\\documentclass{article}\n\\begin{document}\nHello\n\\end{document}\n"
"""A one-page document."""


async def create_document(
    client: TestClient[Any, Any], headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    """``POST /v1/documents`` with ``body`` (``files`` defaults to ``main.tex`` = ``HELLO``);
    the 201 answer (``id``, ``revision``, ``job_id`` when ``compile`` is true)."""
    body.setdefault("files", {"main.tex": HELLO})
    response = await client.post("/v1/documents", json=body, headers=headers)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def update_document(
    client: TestClient[Any, Any], headers: dict[str, str], doc: str, **body: Any
) -> dict[str, Any]:
    """``PUT /v1/documents/{doc}`` with ``body``; the 200 answer (the new ``revision``,
    ``job_id`` when ``compile`` is true)."""
    response = await client.put(f"/v1/documents/{doc}", json=body, headers=headers)
    assert response.status == 200, await response.text()
    updated: dict[str, Any] = await response.json()
    return updated
