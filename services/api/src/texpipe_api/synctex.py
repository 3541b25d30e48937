"""Use cases of SyncTeX on a document's applied PDF: PDF -> source and source -> PDF.

The SyncTeX file is the one of the job whose PDF is applied, so answers always describe
the PDF ``GET /v1/documents/{id}/pdf`` serves (its revision is in each answer). The
``synctex`` tool computes them (``synctex_runner``); ``synctex_paths`` maps names both ways
so that only the revision's own files are ever named.
"""

import asyncio
from dataclasses import dataclass
from uuid import UUID

import asyncpg
from texpipe_servicekit.s3 import S3Store

from texpipe_api import synctex_paths
from texpipe_api.db import job_queries
from texpipe_api.errors import (
    NoPdfError,
    NoSynctexError,
    NotFoundError,
    PageOutOfRangeError,
    SynctexFailedError,
    SynctexNoMatchError,
    s3_read_errors,
)
from texpipe_api.schemas import SynctexBoxOut, SynctexPdfOut, SynctexSourceOut
from texpipe_api.synctex_runner import SynctexRunError, SynctexRunner

INFLATE_FACTOR = 16
"""How much larger than its stored (gzip) size a SyncTeX file may inflate when its names
are read: ~6x measured on the corpus' article; more is not a file TeX wrote."""


@dataclass(frozen=True, slots=True)
class SynctexDeps:
    """What the SyncTeX use cases need."""

    pool: asyncpg.Pool
    s3: S3Store
    runner: SynctexRunner
    max_bytes: int
    """The largest SyncTeX file read from S3 (gzip), as the compiler caps what it keeps."""


@dataclass(frozen=True, slots=True)
class _Applied:
    revision: int
    data: bytes
    root: str
    main_folder: str
    files: frozenset[str]


async def pdf_to_source(
    deps: SynctexDeps, tenant_id: UUID, document_id: UUID, *, page: int, x: float, y: float
) -> SynctexSourceOut:
    """The project file and line that typeset (``x``, ``y``) on ``page`` of the applied PDF."""
    applied = await _applied(deps, tenant_id, document_id, page=page)
    try:
        hits = await deps.runner.edit(applied.data, page=page, x=x, y=y)
    except SynctexRunError as exc:
        raise SynctexFailedError(str(exc)) from exc
    for hit in hits:
        path = synctex_paths.project_path(
            hit.name, root=applied.root, main_folder=applied.main_folder, files=applied.files
        )
        if path is not None:
            return SynctexSourceOut(
                revision=applied.revision, file=path, line=hit.line, column=hit.column
            )
    raise SynctexNoMatchError(
        f"nothing of the project's files is typeset at ({x:g}, {y:g}) on page {page}"
    )


async def source_to_pdf(
    deps: SynctexDeps, tenant_id: UUID, document_id: UUID, *, file: str, line: int, column: int
) -> SynctexPdfOut:
    """The boxes of the applied PDF that ``line`` of the project file ``file`` typeset."""
    applied = await _applied(deps, tenant_id, document_id, page=None)
    if file not in applied.files:
        raise NotFoundError(f"revision {applied.revision} has no file {file[:200]!r}")
    try:
        names = await asyncio.to_thread(
            synctex_paths.input_names, applied.data, max_bytes=INFLATE_FACTOR * deps.max_bytes
        )
    except ValueError as exc:  # not gzip, or inflating past the bound
        raise SynctexFailedError(str(exc)) from exc
    name = synctex_paths.synctex_name(
        file, names, root=applied.root, main_folder=applied.main_folder, files=applied.files
    )
    if name is None:
        raise SynctexNoMatchError(f"TeX did not read {file[:200]!r} for this PDF")
    try:
        boxes = await deps.runner.view(applied.data, name=name, line=line, column=column)
    except SynctexRunError as exc:
        raise SynctexFailedError(str(exc)) from exc
    if not boxes:
        raise SynctexNoMatchError(f"line {line} of {file[:200]!r} typeset nothing in the PDF")
    return SynctexPdfOut(
        revision=applied.revision,
        file=file,
        line=line,
        boxes=[
            SynctexBoxOut(page=b.page, h=b.h, v=b.v, width=b.width, height=b.height) for b in boxes
        ],
    )


async def _applied(
    deps: SynctexDeps, tenant_id: UUID, document_id: UUID, *, page: int | None
) -> _Applied:
    """The applied PDF's SyncTeX file and what maps its names, checked in this order: the
    document exists, has a PDF, the page is one of its pages, it has a SyncTeX file."""
    async with deps.pool.acquire() as conn:
        row = await job_queries.applied_synctex(conn, document_id=document_id, tenant_id=tenant_id)
    if row is None:
        raise NotFoundError(f"no document {document_id}")
    if row["pdf_revision"] is None:
        raise NoPdfError(f"document {document_id} has no applied PDF yet")
    if page is not None and not 1 <= page <= row["pdf_pages"]:
        raise PageOutOfRangeError(
            f"page {page} is not in the PDF (pages 1 to {row['pdf_pages']})",
            pages=row["pdf_pages"],
        )
    if row["synctex_key"] is None or row["files"] is None:
        raise NoSynctexError(
            f"the PDF of revision {row['pdf_revision']} has no SyncTeX data (the engine wrote "
            "none, it was over the size cap, or the revision predates SyncTeX support)"
        )
    data = await _read(deps, row["synctex_key"])
    main_folder = row["main_file"].rpartition("/")[0]
    return _Applied(
        revision=row["pdf_revision"],
        data=data,
        root=row["synctex_root"],
        main_folder=main_folder,
        files=frozenset(row["files"]),
    )


async def _read(deps: SynctexDeps, key: str) -> bytes:
    with s3_read_errors(
        "the SyncTeX file",
        too_large=NoSynctexError(f"the SyncTeX file is over {deps.max_bytes} bytes"),
        missing=NoSynctexError("the SyncTeX file is no longer stored"),
    ):
        return await deps.s3.get(key, max_bytes=deps.max_bytes)
