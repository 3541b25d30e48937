"""Delivering one result to the api and deciding what becomes of its message.

The caller acks the message once :meth:`ResultDelivery.handle` returns: by then the result is
applied, known stale, parked in a retry queue or in the dead-letter queue, each confirmed by
the broker. ``handle`` raises :class:`~texpipe_servicekit.gate.OutageError` when the api (or
the broker) is down: the message is held and handled again once it is back, no retry spent.

The same queue carries ``latex.compile.started`` notices (dispatched by schema name): they go
to the api's ``/started`` endpoint, wait out an outage and retry a 500 like a result, but are
never dead-lettered. A dead letter of the apply queue marks its job dead (``dead_jobs``),
which a lost progress signal must not do: a notice that cannot be delivered is dropped, logged.
"""

import time
from typing import Protocol
from uuid import UUID

import structlog
from texpipe_contracts.decoding import UndecodableMessageError, decode_one_of
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.topology import COMPILE_STARTED_V1
from texpipe_contracts.v1 import CompileCompleted, CompileStarted
from texpipe_servicekit.gate import OutageError

from texpipe_applier import metrics
from texpipe_applier.answers import Action, Verdict
from texpipe_applier.received import Received
from texpipe_applier.retry import RetryPolicy

API = "api"
"""The dependency whose outage pauses the applier's consumers (its gate's probe)."""

log = structlog.get_logger(__name__)


class ResultApi(Protocol):
    """The api's result endpoint (``ApiClient`` in production)."""

    async def post_result(self, job_id: UUID, body: bytes, message_id: str | None) -> Verdict:
        """Deliver one result and classify the answer."""
        ...

    async def post_started(self, job_id: UUID, body: bytes, message_id: str | None) -> Verdict:
        """Deliver one compile-started notice and classify the answer."""
        ...


class Redelivery(Protocol):
    """Where results go when they are not done with (``RabbitRedelivery`` in production)."""

    async def schedule_retry(self, message: Received, attempt: int, delay_s: float) -> None:
        """Bring ``message`` back after ``delay_s`` seconds as retry number ``attempt``."""
        ...

    async def dead_letter(
        self, message: Received, *, reason: str, code: str, attempts: int
    ) -> None:
        """Put ``message`` into the dead-letter queue with its reason."""
        ...


class ResultDelivery:
    """Decode, post, classify; then ack, retry later or dead-letter."""

    def __init__(self, api: ResultApi, redelivery: Redelivery, policy: RetryPolicy) -> None:
        self._api = api
        self._redelivery = redelivery
        self._policy = policy

    async def handle(self, message: Received) -> Verdict | None:
        """Decide the fate of one message; returns the api's verdict (None if undecodable)."""
        tries = message.attempt + 1
        try:
            event = decode_one_of(message.body, CompileCompleted, CompileStarted)
        except UndecodableMessageError as exc:
            code = exc.code.value
            if message.routing_key == COMPILE_STARTED_V1:
                # A progress signal never becomes a dead letter (that would mark its job dead).
                log.error("started_undecodable_dropped", reason=exc.reason, code=code)
                metrics.STARTED.labels(answer="undecodable").inc()
                return None
            # Loud: a producer sends something this applier cannot read.
            log.error("result_undecodable", reason=exc.reason, code=code, tries=tries)
            await self._redelivery.dead_letter(
                message, reason=exc.reason, code=code, attempts=tries
            )
            metrics.DEAD_LETTERED.labels(code=code).inc()
            return None
        with structlog.contextvars.bound_contextvars(
            job_id=str(event.job_id), message_id=str(event.message_id), attempt=message.attempt
        ):
            if isinstance(event, CompileStarted):
                return await self._deliver_started(message, event, tries)
            started = time.perf_counter()
            verdict = await self._api.post_result(event.job_id, message.body, message.message_id)
            metrics.API_SECONDS.observe(time.perf_counter() - started)
            metrics.RESULTS.labels(answer=verdict.answer.value).inc()
            await self._act(message, verdict, tries)
            return verdict

    async def _deliver_started(
        self, message: Received, event: CompileStarted, tries: int
    ) -> Verdict:
        verdict = await self._api.post_started(event.job_id, message.body, message.message_id)
        metrics.STARTED.labels(answer=verdict.answer.value).inc()
        if verdict.action is Action.ACK:
            log.info("started_delivered", answer=verdict.answer.value, tries=tries)
            return verdict
        if verdict.action is Action.WAIT:
            raise OutageError(API, verdict.reason)
        delay_s = self._policy.delay_for(tries) if verdict.action is Action.RETRY else None
        if delay_s is None:
            log.error("started_dropped", answer=verdict.answer.value, reason=verdict.reason)
            return verdict
        log.warning("started_retry_scheduled", reason=verdict.reason, retry=tries)
        await self._redelivery.schedule_retry(message, tries, delay_s)
        return verdict

    async def _act(self, message: Received, verdict: Verdict, tries: int) -> None:
        if verdict.action is Action.ACK:
            log.info("result_delivered", answer=verdict.answer.value, tries=tries)
            return
        if verdict.action is Action.WAIT:
            raise OutageError(API, verdict.reason)
        if verdict.action is Action.DEAD_LETTER:
            log.error("result_refused", answer=verdict.answer.value, reason=verdict.reason)
            await self._redelivery.dead_letter(
                message, reason=verdict.reason, code=verdict.code, attempts=tries
            )
            metrics.DEAD_LETTERED.labels(code=verdict.code).inc()
            return
        delay_s = self._policy.delay_for(tries)
        if delay_s is None:
            reason = f"gave up after {tries} tries; last answer: {verdict.reason}"
            log.error("result_retries_exhausted", answer=verdict.answer.value, tries=tries)
            code = ErrorCode.RETRIES_EXHAUSTED.value
            await self._redelivery.dead_letter(message, reason=reason, code=code, attempts=tries)
            metrics.DEAD_LETTERED.labels(code=code).inc()
            return
        log.warning(
            "result_retry_scheduled",
            answer=verdict.answer.value,
            reason=verdict.reason,
            retry=tries,
            delay_s=round(delay_s, 3),
        )
        await self._redelivery.schedule_retry(message, tries, delay_s)
        metrics.RETRIES.labels(answer=verdict.answer.value).inc()
