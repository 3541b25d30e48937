"""Use cases on compile jobs: enqueue (``enqueue.py``: one statement, one reuse rule), read,
long-poll, cancel, log."""

import asyncio
from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg
from texpipe_contracts.jobs import is_final
from texpipe_contracts.v1 import CompileCancelRequested, OutputFile
from texpipe_servicekit.s3 import S3Store

from texpipe_api import metrics, outbox
from texpipe_api.batching import CompileBatcher
from texpipe_api.db import enqueue_queries, job_queries, outbox_queries
from texpipe_api.db.conn import Conn
from texpipe_api.enqueue import CompileRequest, enqueue
from texpipe_api.errors import (
    DependencyUnavailableError,
    JobFinalError,
    LogTooLargeError,
    NoLogError,
    NoOutputFileError,
    NotFoundError,
    s3_read_errors,
)
from texpipe_api.presenters import job_out, job_outputs, outputs_out
from texpipe_api.schemas import JobOut, OutputsOut
from texpipe_api.waiters import JobWaiters


@dataclass(frozen=True, slots=True)
class JobPolicy:
    """What every new job is given."""

    timeout_ms: int


async def enqueue_compile(
    conn: Conn, policy: JobPolicy, document_id: UUID, tenant_id: UUID
) -> asyncpg.Record:
    """A compile of the document's current revision, in the caller's transaction (create,
    update, the ping): the reused or new job (``id``, ``state``; ``outbox_id`` when new)."""
    request = CompileRequest(uuid4(), uuid4(), document_id, tenant_id, None)
    rows = await enqueue(conn, [request], timeout_ms=policy.timeout_ms)
    if not rows:
        raise NotFoundError(f"no document {document_id}")
    return rows[0]


# A key whose job cannot be read after its conflict was resolved (the job was pruned in
# between) is submitted again; twice in a row would take a pruning on every attempt.
_KEY_ATTEMPTS = 3


async def submit_compile(
    batcher: CompileBatcher,
    pool: asyncpg.Pool,
    tenant_id: UUID,
    document_id: UUID,
    idempotency_key: str | None,
) -> asyncpg.Record:
    """Enqueue a compile of the document's current revision through the batcher: the job
    (``id``, ``state``) the reuse rule answers with (``db/enqueue_queries.py``)."""
    for _ in range(_KEY_ATTEMPTS):
        row = await batcher.submit(document_id, tenant_id, idempotency_key)
        if row is None:
            raise NotFoundError(f"no document {document_id}")
        if row["settled"] or idempotency_key is None:
            return row
        # A concurrent request recorded the same key first: answer with its job.
        async with pool.acquire() as conn:
            earlier = await enqueue_queries.job_for_key(
                conn, document_id=document_id, tenant_id=tenant_id, key=idempotency_key
            )
        if earlier is not None:
            return earlier
    raise DependencyUnavailableError("the idempotency key's job kept disappearing; retry")


async def get_job(pool: asyncpg.Pool, tenant_id: UUID, job_id: UUID) -> JobOut:
    """A tenant's job."""
    async with pool.acquire() as conn:
        row = await job_queries.get_job(conn, job_id, tenant_id=tenant_id)
    if row is None:
        raise NotFoundError(f"no job {job_id}")
    return job_out(row)


async def wait_for_job(
    pool: asyncpg.Pool, waiters: JobWaiters, tenant_id: UUID, job_id: UUID, wait_s: float
) -> JobOut:
    """The job as soon as it is final, or after ``wait_s`` seconds as it is then."""
    job = await get_job(pool, tenant_id, job_id)
    if wait_s <= 0 or is_final(job.state):
        return job
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    with waiters.watch(job_id) as changed:
        # Read again after registering: a change in between would otherwise be missed.
        job = await get_job(pool, tenant_id, job_id)
        while not is_final(job.state) and not waiters.closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                break
            changed.clear()
            job = await get_job(pool, tenant_id, job_id)
    return job


async def cancel_job(pool: asyncpg.Pool, tenant_id: UUID, job_id: UUID) -> JobOut:
    """Cancel a tenant's queued job: it ends ``cancelled`` at once (JobFinalError when it is
    already final). A compile request not yet published is withdrawn; otherwise a
    ``compile.cancel_requested.v1`` goes out (same transaction) so that a compiler running it
    kills its sandbox and one that takes the request later skips it."""
    async with pool.acquire() as conn, conn.transaction():
        job = await job_queries.get_job(conn, job_id, tenant_id=tenant_id)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        # Document first, then job: the lock order of every writer (results.py).
        await job_queries.lock_document_for_apply(conn, job["document_id"])
        locked = await job_queries.lock_job(conn, job_id)
        if locked is None:  # pruned meanwhile (only finished jobs are)
            raise NotFoundError(f"no job {job_id}")
        if is_final(locked["state"]):
            raise JobFinalError(
                f"job {job_id} is already {locked['state']}", job_state=locked["state"]
            )
        row = await job_queries.cancel_job(conn, job_id)
        if not await outbox_queries.withdraw_compile_request(conn, job_id):
            await outbox.enqueue_event(
                conn,
                CompileCancelRequested(
                    job_id=job_id, document_id=row["document_id"], revision=row["revision"]
                ),
            )
    metrics.JOBS_CANCELLED.inc()
    return job_out(row)


async def read_log(
    pool: asyncpg.Pool, s3: S3Store, tenant_id: UUID, job_id: UUID, max_bytes: int
) -> bytes:
    """The job's compile log from S3."""
    async with pool.acquire() as conn:
        row = await job_queries.get_job(conn, job_id, tenant_id=tenant_id)
    if row is None:
        raise NotFoundError(f"no job {job_id}")
    if row["log_key"] is None:
        raise NoLogError(f"job {job_id} has no log (state {row['state']})")
    with s3_read_errors(
        "the log",
        too_large=LogTooLargeError(f"the log is larger than {max_bytes} bytes (max_log_bytes)"),
        missing=NoLogError(f"the log of job {job_id} is no longer stored"),
    ):
        return await s3.get(row["log_key"], max_bytes=max_bytes)


async def list_outputs(pool: asyncpg.Pool, tenant_id: UUID, job_id: UUID) -> OutputsOut:
    """The tenant's job's output files (none until it has a result)."""
    async with pool.acquire() as conn:
        row = await job_queries.get_job(conn, job_id, tenant_id=tenant_id)
    if row is None:
        raise NotFoundError(f"no job {job_id}")
    return OutputsOut(job_id=job_id, outputs=outputs_out(row))


async def output_file(pool: asyncpg.Pool, tenant_id: UUID, job_id: UUID, name: str) -> OutputFile:
    """The tenant's job's output file called ``name`` (its S3 key, size and type); 404 for
    another tenant's job and for a name the job does not list."""
    async with pool.acquire() as conn:
        row = await job_queries.get_job(conn, job_id, tenant_id=tenant_id)
    if row is None:
        raise NotFoundError(f"no job {job_id}")
    for listed in job_outputs(row):
        if listed.name == name:
            return listed
    raise NoOutputFileError(f"job {job_id} has no output file {name[:300]!r}")
