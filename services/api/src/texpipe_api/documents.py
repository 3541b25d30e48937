"""Use cases on documents: create, new revision, read; sources go to S3 before the commit."""

import asyncio
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
from botocore.exceptions import BotoCoreError, ClientError
from texpipe_contracts.bundle import BUNDLE_CONTENT_TYPE, Bundle, build_bundle
from texpipe_servicekit.s3 import S3Store

from texpipe_api.db import job_queries, queries
from texpipe_api.db.conn import Conn
from texpipe_api.errors import (
    DependencyUnavailableError,
    NoPdfError,
    NotFoundError,
    RevisionMismatchError,
)
from texpipe_api.jobs import JobPolicy, enqueue_compile
from texpipe_api.presenters import document_out
from texpipe_api.schemas import DocumentBody, DocumentCreated, DocumentOut
from texpipe_api.sources import CheckedSources, SourceLimits, check_sources

# Below this, packing on the event loop is cheaper than a thread hop.
_INLINE_BUNDLE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DocumentDeps:
    """What the document use cases need."""

    pool: asyncpg.Pool
    s3: S3Store
    limits: SourceLimits
    jobs: JobPolicy


async def store_sources(s3: S3Store, checked: CheckedSources) -> Bundle:
    """Pack and upload the bundle unless an identical one is already stored."""
    size = sum(len(data) for data in checked.files.values())
    if size <= _INLINE_BUNDLE_BYTES:
        bundle = build_bundle(checked.files)
    else:
        bundle = await asyncio.to_thread(build_bundle, checked.files)
    try:
        if await s3.head(bundle.key) is None:
            await s3.put(
                bundle.key, bundle.data, content_type=BUNDLE_CONTENT_TYPE, sha256=bundle.sha256
            )
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailableError(
            f"S3 did not take the sources: {type(exc).__name__}"
        ) from exc
    return bundle


async def record_revision(
    conn: Conn,
    document_id: UUID,
    revision: int,
    checked: CheckedSources,
    bundle: Bundle,
) -> None:
    """Record a revision's checked sources and stored bundle (the caller's transaction)."""
    await queries.insert_revision(
        conn,
        document_id=document_id,
        revision=revision,
        main_file=checked.main_file,
        engine=checked.engine.value,
        engine_source=checked.engine_source.value,
        source_key=bundle.key,
        source_sha256=bundle.sha256,
        source_size=bundle.size,
        file_count=len(checked.files),
    )


async def create_document(
    deps: DocumentDeps, tenant_id: UUID, body: DocumentBody
) -> DocumentCreated:
    """A new document at revision 1, optionally with a compile job (same transaction)."""
    checked = check_sources(body.files, main_file=body.main, engine=body.engine, limits=deps.limits)
    bundle = await store_sources(deps.s3, checked)
    document_id = uuid4()
    job_id = None
    async with deps.pool.acquire() as conn, conn.transaction():
        await queries.insert_document(conn, document_id=document_id, tenant_id=tenant_id)
        await record_revision(conn, document_id, 1, checked, bundle)
        if body.compile:
            job = await enqueue_compile(conn, deps.jobs, document_id, tenant_id)
            job_id = job["id"]
    return DocumentCreated(
        id=document_id,
        revision=1,
        engine=checked.engine,
        engine_source=checked.engine_source,
        main=checked.main_file,
        job_id=job_id,
    )


async def update_document(
    deps: DocumentDeps,
    tenant_id: UUID,
    document_id: UUID,
    body: DocumentBody,
    *,
    if_match: int | None,
) -> DocumentCreated:
    """A new revision (the whole file set); ``if_match`` must name the current revision."""
    checked = check_sources(body.files, main_file=body.main, engine=body.engine, limits=deps.limits)
    async with deps.pool.acquire() as conn:
        exists = await queries.get_document(conn, document_id=document_id, tenant_id=tenant_id)
    if exists is None:  # checked before the upload: nothing is stored for a wrong id
        raise NotFoundError(f"no document {document_id}")
    bundle = await store_sources(deps.s3, checked)
    job_id = None
    async with deps.pool.acquire() as conn, conn.transaction():
        current = await queries.lock_current_revision(
            conn, document_id=document_id, tenant_id=tenant_id
        )
        if current is None:
            raise NotFoundError(f"no document {document_id}")
        if if_match is not None and if_match != current:
            raise RevisionMismatchError(
                f"If-Match names revision {if_match}, the current one is {current}",
                current_revision=current,
            )
        revision = await queries.bump_revision(conn, document_id)
        await record_revision(conn, document_id, revision, checked, bundle)
        if body.compile:
            job = await enqueue_compile(conn, deps.jobs, document_id, tenant_id)
            job_id = job["id"]
    return DocumentCreated(
        id=document_id,
        revision=revision,
        engine=checked.engine,
        engine_source=checked.engine_source,
        main=checked.main_file,
        job_id=job_id,
    )


async def get_document(pool: asyncpg.Pool, tenant_id: UUID, document_id: UUID) -> DocumentOut:
    """The document, its applied PDF and its latest job."""
    async with pool.acquire() as conn:
        row = await queries.get_document(conn, document_id=document_id, tenant_id=tenant_id)
        if row is None:
            raise NotFoundError(f"no document {document_id}")
        latest = await job_queries.latest_job(conn, document_id)
    return document_out(row, latest)


async def pdf_key(pool: asyncpg.Pool, tenant_id: UUID, document_id: UUID) -> tuple[str, int]:
    """The S3 key and revision of the document's applied PDF (NoPdfError when none)."""
    async with pool.acquire() as conn:
        row = await queries.get_document(conn, document_id=document_id, tenant_id=tenant_id)
    if row is None:
        raise NotFoundError(f"no document {document_id}")
    if row["pdf_key"] is None:
        raise NoPdfError(f"document {document_id} has no applied PDF yet")
    return row["pdf_key"], row["pdf_revision"]
