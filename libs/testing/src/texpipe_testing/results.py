"""Compile results as a compiler leaves them, for tests of the api's result endpoint."""

import hashlib
from typing import Any
from uuid import UUID, uuid4

from texpipe_contracts.v1 import CompileCompleted, Engine, Outcome, PdfRef
from texpipe_servicekit.s3 import S3Store


async def stored_pdf(s3: S3Store, content: bytes | None = None) -> PdfRef:
    """A 'PDF' in S3 under ``outputs/<sha256>/output.pdf`` with its sha256 metadata (a fresh
    unique one unless ``content`` is given), as a compiler leaves it."""
    data = content or b"%PDF-1.5\n" + uuid4().bytes + b"\n%%EOF\n"
    sha = hashlib.sha256(data).hexdigest()
    key = f"outputs/{sha}/output.pdf"
    await s3.put(key, data, content_type="application/pdf", sha256=sha)
    return PdfRef(key=key, size=len(data), sha256=sha, pages=1)


def succeeded(job: str, doc: str, revision: int, pdf: PdfRef, **extra: Any) -> CompileCompleted:
    """A successful ``compile.completed.v1`` of ``revision`` (ids as strings), 120 ms long."""
    return CompileCompleted(
        job_id=UUID(job),
        document_id=UUID(doc),
        revision=revision,
        outcome=Outcome.SUCCEEDED,
        pdf=pdf,
        duration_ms=120,
        engine=Engine.PDFLATEX,
        engine_version="pdfTeX 3.14",
        **extra,
    )


async def post_result(
    client: Any, headers: dict[str, str], result: CompileCompleted
) -> tuple[int, dict[str, Any]]:
    """POST ``result`` to the api's internal result endpoint as the applier does (JSON body,
    its message id in ``X-Texpipe-Message-Id``); ``client`` is an aiohttp test client.
    Returns (HTTP status, JSON answer)."""
    response = await client.post(
        f"/internal/v1/jobs/{result.job_id}/result",
        data=result.model_dump_json(),
        headers={
            **headers,
            "Content-Type": "application/json",
            "X-Texpipe-Message-Id": str(result.message_id),
        },
    )
    return response.status, await response.json()
