"""Use cases of the internal endpoints: take a compile result (stale-checked), mark a job dead,
record that a compile started."""

from uuid import UUID

import asyncpg
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from texpipe_contracts.internal_api import MarkDead, ResultAnswer, StartedAnswer
from texpipe_contracts.jobs import JobState
from texpipe_contracts.v1 import CompileCompleted, CompileStarted, Outcome, PdfApplied, PdfRef
from texpipe_servicekit.s3 import S3Store

from texpipe_api import metrics, outbox
from texpipe_api.db import job_queries
from texpipe_api.errors import (
    DependencyUnavailableError,
    InvalidRequestError,
    JobStaleError,
    NotFoundError,
    ResultInvalidError,
)
from texpipe_api.stale import Action, Verdict, decide

log = structlog.get_logger(__name__)


async def verify_pdf(s3: S3Store, pdf: PdfRef) -> None:
    """The PDF must be visible in S3 with the stated size and sha256, else 409 (retry later)."""
    try:
        info = await s3.head(pdf.key)
    except (BotoCoreError, ClientError) as exc:
        raise DependencyUnavailableError(f"S3 did not answer: {type(exc).__name__}") from exc
    if info is None:
        raise ResultInvalidError(f"the PDF object {pdf.key!r} is not visible in storage")
    if info.size != pdf.size:
        raise ResultInvalidError(f"the PDF object is {info.size} bytes, the result says {pdf.size}")
    if info.sha256 != pdf.sha256:
        raise ResultInvalidError("the PDF object's sha256 metadata does not match the result")


def _answer(verdict: Verdict) -> ResultAnswer:
    metrics.RESULTS.labels(answer=verdict.action.value).inc()
    if verdict.action is Action.ALREADY_STALE or verdict.action is Action.MAKE_STALE:
        raise JobStaleError(
            "a newer revision exists or a newer PDF is applied", job_state=verdict.job_state
        )
    if verdict.action is Action.CANCELLED:
        raise JobStaleError(
            "the job was cancelled; its result is not applied", job_state=JobState.CANCELLED
        )
    if verdict.action is Action.REFUSE:
        raise ResultInvalidError(f"the job is {verdict.job_state!r}, which takes no results")
    status = "already_applied" if verdict.action is Action.ALREADY_DONE else "applied"
    return ResultAnswer(status=status, job_state=verdict.job_state)


def pdf_applied_event(result: CompileCompleted, applied: job_queries.AppliedPdf) -> PdfApplied:
    """The ``document.pdf_applied.v1`` event of a result just applied."""
    assert result.pdf is not None
    return PdfApplied(
        job_id=result.job_id,
        document_id=result.document_id,
        tenant_id=applied.tenant_id,
        revision=result.revision,
        pdf=result.pdf,
        applied_at=applied.applied_at,
        produced_at=applied.applied_at,
    )


async def apply_result(
    pool: asyncpg.Pool, s3: S3Store, job_id: UUID, result: CompileCompleted
) -> ResultAnswer:
    """Record ``result`` on its job and, if it passes the stale check, on its document."""
    if result.job_id != job_id:
        raise InvalidRequestError("the job id of the path and of the result differ")
    async with pool.acquire() as conn:
        job = await job_queries.get_job(conn, job_id, tenant_id=None)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    if job["document_id"] != result.document_id or job["revision"] != result.revision:
        raise InvalidRequestError("the result's document or revision is not the job's")
    # A redelivery for a finished job is answered from the unlocked read, without S3.
    early = decide(
        job_state=job["state"],
        outcome=result.outcome,
        result_revision=result.revision,
        current_revision=result.revision,
        pdf_revision=None,
    )
    if early.action in {Action.ALREADY_DONE, Action.ALREADY_STALE, Action.CANCELLED, Action.REFUSE}:
        return _answer(early)
    if result.outcome is Outcome.SUCCEEDED:
        assert result.pdf is not None
        # Outside the lock: a slow S3 must not hold up other results for the document.
        await verify_pdf(s3, result.pdf)
    async with pool.acquire() as conn, conn.transaction():
        # Document first, then job: every writer takes the locks in this order.
        document = await job_queries.lock_document_for_apply(conn, job["document_id"])
        locked = await job_queries.lock_job(conn, job_id)
        if document is None or locked is None:
            raise NotFoundError(f"no job {job_id}")
        verdict = decide(
            job_state=locked["state"],
            outcome=result.outcome,
            result_revision=result.revision,
            current_revision=document["current_revision"],
            pdf_revision=document["pdf_revision"],
        )
        if verdict.action is Action.APPLY:
            applied = await job_queries.set_document_pdf(conn, result=result)
            # Same transaction: the event exists exactly when the PDF was applied.
            await outbox.enqueue_event(conn, pdf_applied_event(result, applied))
        if verdict.action in {Action.APPLY, Action.MAKE_STALE, Action.RECORD}:
            await job_queries.record_result(conn, result=result, state=verdict.job_state)
    log.info(
        "result_taken",
        job_id=str(job_id),
        message_id=str(result.message_id),
        action=verdict.action.value,
        job_state=verdict.job_state,
        revision=result.revision,
    )
    return _answer(verdict)  # raised only now: the transaction above has committed


async def mark_dead(pool: asyncpg.Pool, job_id: UUID, body: MarkDead) -> ResultAnswer:
    """The pipeline gave up on a queued job; a job that has its result keeps it."""
    async with pool.acquire() as conn:
        outcome = await job_queries.mark_dead(
            conn, job_id=job_id, reason=body.reason[:2000], queue=body.queue
        )
    if outcome is None:
        raise NotFoundError(f"no job {job_id}")
    state, changed = outcome
    if changed:
        log.warning("job_marked_dead", job_id=str(job_id), reason=body.reason, queue=body.queue)
    return ResultAnswer(status="applied" if changed else "already_applied", job_state=state)


async def mark_started(pool: asyncpg.Pool, job_id: UUID, notice: CompileStarted) -> StartedAnswer:
    """A compiler began the job: ``recorded`` once for a queued job (its document's events
    show it ``compiling``), else ``ignored``; NotFoundError: no such job (it may be pruned)."""
    if notice.job_id != job_id:
        raise InvalidRequestError("the job id of the path and of the notice differ")
    async with pool.acquire() as conn:
        outcome = await job_queries.mark_started(conn, job_id)
    if outcome is None:
        raise NotFoundError(f"no job {job_id}")
    state, recorded = outcome
    if recorded:
        log.info("job_compiling", compiler=notice.compiler, revision=notice.revision)
    return StartedAnswer(status="recorded" if recorded else "ignored", job_state=state)
