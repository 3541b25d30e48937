"""Rows -> answer models (the public shapes of ``schemas.py``)."""

from urllib.parse import quote

import asyncpg
from pydantic import TypeAdapter
from texpipe_contracts.v1 import Engine, OutputFile

from texpipe_api.schemas import (
    DiagnosticsOut,
    DocumentOut,
    JobErrorOut,
    JobOut,
    OutputOut,
    PdfOut,
)

_OUTPUT_LIST = TypeAdapter(list[OutputFile])
LEGACY_PDF_NAME, LEGACY_LOG_NAME = "output.pdf", "output.log"
PDF_TYPE, LOG_TYPE = "application/pdf", "text/plain; charset=utf-8"


def job_outputs(row: asyncpg.Record) -> list[OutputFile]:
    """The job's output files as its result listed them; a result from a compiler that did
    not list them shows its PDF and log as ``output.pdf`` and ``output.log``."""
    if row["outputs"] is not None:
        return _OUTPUT_LIST.validate_json(row["outputs"])
    found = [
        (row["pdf_key"], row["pdf_size"], LEGACY_PDF_NAME, PDF_TYPE),
        (row["log_key"], row["log_size"], LEGACY_LOG_NAME, LOG_TYPE),
    ]
    return [
        OutputFile(key=key, size=size or 0, name=name, content_type=kind)
        for key, size, name, kind in found
        if key is not None
    ]


def outputs_out(row: asyncpg.Record) -> list[OutputOut]:
    """The job's output files as the API shows them (with their download paths)."""
    return [
        OutputOut(
            name=f.name,
            size=f.size,
            content_type=f.content_type,
            url=f"/v1/jobs/{row['id']}/outputs/{quote(f.name, safe='')}",
        )
        for f in job_outputs(row)
    ]


def job_out(row: asyncpg.Record) -> JobOut:
    """A job row as the API shows it."""
    error = None
    if row["error_code"] is not None:
        error = JobErrorOut(
            code=row["error_code"],
            message=row["error_message"] or "",
            file=row["error_file"],
            line=row["error_line"],
            excerpt=row["error_excerpt"] or "",
        )
    return JobOut(
        id=row["id"],
        document_id=row["document_id"],
        revision=row["revision"],
        state=row["state"],
        engine=Engine(row["engine"]),
        engine_source=row["engine_source"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=error,
        log_available=row["log_key"] is not None,
        duration_ms=row["duration_ms"],
        engine_version=row["engine_version"],
        cache_hit=row["cache_hit"],
        dead_reason=row["dead_reason"],
        diagnostics=(
            DiagnosticsOut.model_validate_json(row["diagnostics"])
            if row["diagnostics"] is not None
            else None
        ),
        outputs=outputs_out(row),
    )


def document_out(row: asyncpg.Record, latest: asyncpg.Record | None) -> DocumentOut:
    """A document row (joined with its current revision) and its latest job."""
    pdf = None
    if row["pdf_revision"] is not None:
        pdf = PdfOut(
            revision=row["pdf_revision"],
            sha256=row["pdf_sha256"],
            size=row["pdf_size"],
            pages=row["pdf_pages"],
            applied_at=row["pdf_applied_at"],
            job_id=row["pdf_job_id"],
        )
    return DocumentOut(
        id=row["id"],
        revision=row["current_revision"],
        engine=Engine(row["engine"]),
        engine_source=row["engine_source"],
        main=row["main_file"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        pdf=pdf,
        latest_job=job_out(latest) if latest is not None else None,
    )
