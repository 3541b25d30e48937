"""What happens to one message of the compile queue, from delivery to ack.

Every delivery is settled by the service kit's one policy (``texpipe_servicekit.rabbit``):

- a body that is not a compile request this compiler knows is dead-lettered at once with
  the reason, then acked;
- a request whose compiles were started ``max_starts`` times by compilers that died before
  finishing is dead-lettered ("compiled N times without finishing (the compiler died)");
- otherwise it is compiled, its result published, and the request acked once the broker
  confirmed the result (a returned, unroutable publish is no confirm). At most
  ``concurrency`` requests are started (marked) at once, and a request with an unfinished
  start compiles alone (no other compile of this process runs beside it): if it kills the
  compiler again, no job beside it is blamed, so a healthy job that happened to run beside a
  request that killed the compiler is blamed once, never three times;
- S3, the broker or the sandbox itself failing (bubblewrap will not start, a control group
  cannot be made, the host is out of descriptors) is an outage, not the message's fault: the
  delivery is held and the consumer paused until the dependency answers, then the request is
  handled again (a finished compile is then a cache hit);
- anything else (a bug, or the message's deadline passing) rejects it with requeue: its start
  marker stays, so it counts as a start that never finished;
- a request whose job was cancelled (``compile.cancel_requested.v1``, heard on this process's
  own queue) is not compiled, or its compile is stopped (the sandbox killed, the slot free at
  once): it is acked with no result published.
"""

import asyncio
import contextlib
from collections.abc import Awaitable
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import aiorwlock
import structlog
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from texpipe_contracts.decoding import UndecodableMessageError, decode_message
from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.topology import COMPILE_COMPLETED_V1, Topology
from texpipe_contracts.v1 import CompileCancelRequested, CompileCompleted, CompileRequested
from texpipe_servicekit.gate import DependencyGate, OutageError
from texpipe_servicekit.rabbit import (
    dead_letter,
    delivery_count,
    message_headers,
    publish_confirmed,
    settle,
)
from texpipe_servicekit.s3 import is_unreachable

from texpipe_compiler import metrics
from texpipe_compiler.cancels import RecentCancels
from texpipe_compiler.compile_manager import CompileManager
from texpipe_compiler.errors import InfrastructureError
from texpipe_compiler.starts import StartLedger

S3, BROKER, SANDBOX = "s3", "broker", "sandbox"
"""The dependencies whose outage pauses the compiler (names of its gate's probes)."""

T = TypeVar("T")

log = structlog.get_logger(__name__)


async def _s3(step: Awaitable[T]) -> T:
    """``step``, with S3 being unreachable turned into an outage."""
    try:
        return await step
    except Exception as exc:
        if is_unreachable(exc):
            raise OutageError(S3, f"{type(exc).__name__}: {exc}"[:500]) from exc
        raise


async def _compile_step(step: Awaitable[T]) -> T:
    """A compile: S3 unreachable, or the sandbox machinery failing on the host
    (``InfrastructureError``, ``OSError``: what a document cannot cause), is an outage."""
    try:
        return await _s3(step)
    except (InfrastructureError, OSError) as exc:
        raise OutageError(SANDBOX, f"{type(exc).__name__}: {exc}"[:500]) from exc


async def _broker(step: Awaitable[T]) -> T:
    """``step`` (a publish): any failure of it is the broker's."""
    try:
        return await step
    except Exception as exc:
        raise OutageError(BROKER, f"{type(exc).__name__}: {exc}"[:500]) from exc


class CompileConsumer:
    """Handles compile-queue messages, each attempt within ``deadline_s`` of its start."""

    def __init__(
        self,
        broker: RabbitBroker,
        topology: Topology,
        manager: CompileManager,
        *,
        ledger: StartLedger,
        gate: DependencyGate,
        deadline_s: float,
        max_starts: int,
        concurrency: int,
    ) -> None:
        self._broker, self._topology = broker, topology
        self._manager, self._ledger, self._gate = manager, ledger, gate
        self._deadline_s, self._max_starts = deadline_s, max_starts
        self._in_flight: dict[UUID, asyncio.Task[CompileCompleted | None]] = {}
        # Start markers being removed, by job: a task of its own once the compile is done, so
        # it ends even when no delivery is left to publish the result.
        self._unmarking: dict[UUID, asyncio.Task[None]] = {}
        self._cancels = RecentCancels()
        # Suspects (requests some compiler died on) take it as writers: alone.
        self._isolation = aiorwlock.RWLock()
        self._running = asyncio.Semaphore(concurrency)

    async def handle(self, msg: RabbitMessage) -> None:
        """Decode, compile, publish, ack (or dead-letter, or hold, or give back)."""
        headers = message_headers(msg)
        queue = self._topology.compile_queue.name
        with structlog.contextvars.bound_contextvars(message_id=msg.message_id):
            try:
                request = decode_message(msg.body, CompileRequested)
            except UndecodableMessageError as exc:
                work = partial(
                    self._dead_letter, msg, headers, reason=exc.reason, code=exc.code.value
                )
                await settle(self._broker, msg, work, gate=self._gate, queue=queue)
                return
            with (
                structlog.contextvars.bound_contextvars(job_id=str(request.job_id)),
                metrics.IN_FLIGHT.track_inprogress(),
            ):
                work = partial(self._handle_request, msg, headers, request)
                await settle(self._broker, msg, work, gate=self._gate, queue=queue)

    def on_cancel(self, body: bytes) -> None:
        """A ``compile.cancel_requested.v1``: remember it, and stop the job's compile if it
        runs here. A body that is no such message is logged and dropped (it is a broadcast
        copy on this process's own queue: there is no dead-letter path, and no job to fail)."""
        try:
            cancel = decode_message(body, CompileCancelRequested)
        except UndecodableMessageError as exc:
            log.error("cancel_undecodable", reason=exc.reason, code=exc.code.value)
            return
        self._cancels.add(cancel.job_id)
        running = self._in_flight.get(cancel.job_id)
        if running is not None and not running.done():
            running.cancel()  # the sandbox is killed and the slot freed as the task unwinds
            metrics.COMPILES_CANCELLED.inc()
        log.info("cancel_received", job_id=str(cancel.job_id), running=running is not None)

    async def _handle_request(
        self, msg: RabbitMessage, headers: dict[str, Any], request: CompileRequested
    ) -> None:
        if request.job_id in self._cancels:
            log.info("compile_skipped_cancelled")
            return
        try:
            async with asyncio.timeout(self._deadline_s):
                result = await self._result_once(msg, headers, request)
                if result is not None:
                    # The start marker goes while the result goes out (both before the ack).
                    unmarking = self._unmarking.get(request.job_id)
                    for outcome in await asyncio.gather(
                        _broker(self._publish(result)),
                        asyncio.shield(unmarking) if unmarking is not None else _nothing(),
                        return_exceptions=True,
                    ):
                        if isinstance(outcome, BaseException):
                            raise outcome
        except TimeoutError:
            log.error("message_deadline_passed", deadline_s=self._deadline_s)
            compile_task = self._in_flight.get(request.job_id)
            if compile_task is not None:
                compile_task.cancel()  # overdue: its sandbox is stopped
            raise

    async def _result_once(
        self, msg: RabbitMessage, headers: dict[str, Any], request: CompileRequested
    ) -> CompileCompleted | None:
        """The result of ``request``, compiled once per process. The compile runs as a task
        of its own that outlives the delivery: when the connection drops, FastStream cancels
        the handler, the broker redelivers the request, and the new delivery joins the compile
        still running instead of starting over. None when the request was dead-lettered."""
        running = self._in_flight.get(request.job_id)
        if running is None:
            running = asyncio.create_task(
                self._compile_counted(msg, headers, request), name=f"compile-{request.job_id}"
            )
            self._in_flight[request.job_id] = running
            running.add_done_callback(partial(self._forget, request.job_id))
        else:
            log.info("compile_joined")
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            stopped = running.cancelled() and request.job_id in self._cancels
            if stopped and current is not None and not current.cancelling():
                log.info("compile_stopped_cancelled")
                return None  # the job is cancelled: nothing to publish, ack
            raise

    def _forget(self, job_id: UUID, task: "asyncio.Task[CompileCompleted | None]") -> None:
        if self._in_flight.get(job_id) is task:
            del self._in_flight[job_id]
        if not task.cancelled():
            task.exception()  # retrieved here: every delivery waiting for it may be gone

    async def _compile_counted(
        self, msg: RabbitMessage, headers: dict[str, Any], request: CompileRequested
    ) -> CompileCompleted | None:
        died = await _s3(self._ledger.unfinished(request.job_id))
        if died >= self._max_starts:
            reason = f"compiled {died} times without finishing (the compiler died)"
            await self._dead_letter(msg, headers, reason=reason, code=ErrorCode.COMPILER_DIED)
            await _s3(self._ledger.finish(request.job_id))
            return None
        if died:
            # A suspect compiles alone: if it kills the process again, it alone is blamed.
            log.warning("compile_restarted_after_crash", unfinished_starts=died)
            async with self._isolation.writer:
                return await self._compile_marked(request)
        async with self._isolation.reader:
            return await self._compile_marked(request)

    async def _compile_marked(self, request: CompileRequested) -> CompileCompleted:
        """The compile between its start marker and its result; the marker's removal starts
        as the result is returned (``_handle_request`` publishes beside it)."""
        # Marked only once it may run, so that a job waiting for its turn is never blamed.
        async with self._running:
            await _s3(self._ledger.mark(request.job_id))
            try:
                result = await _compile_step(self._manager.compile(request))
            except asyncio.CancelledError:
                if request.job_id in self._cancels:
                    # Stopped on purpose: this start did not die. Best effort: a marker left
                    # behind only counts against a job that is cancelled anyway.
                    with contextlib.suppress(Exception):
                        await self._ledger.finish(request.job_id)
                raise
        unmarking = asyncio.create_task(_s3(self._ledger.finish(request.job_id)))
        self._unmarking[request.job_id] = unmarking
        unmarking.add_done_callback(partial(self._unmarked, request.job_id))
        return result

    def _unmarked(self, job_id: UUID, task: "asyncio.Task[None]") -> None:
        if self._unmarking.get(job_id) is task:
            del self._unmarking[job_id]
        if not task.cancelled() and task.exception() is not None:
            # Left behind, the marker counts as one start that died (as after a crash).
            log.warning("start_marker_not_removed", job_id=str(job_id), error=str(task.exception()))

    async def _dead_letter(
        self, msg: RabbitMessage, headers: dict[str, Any], *, reason: str, code: str
    ) -> None:
        await _broker(
            dead_letter(
                self._broker, self._topology,
                body=msg.body, headers=headers, source_queue=self._topology.compile_queue,
                reason=reason, code=code, attempts=delivery_count(headers) + 1,
                correlation_id=msg.correlation_id, message_id=msg.message_id,
            )
        )  # fmt: skip

    async def _publish(self, result: CompileCompleted) -> None:
        await publish_confirmed(
            self._broker,
            result.model_dump_json().encode(),
            exchange=self._topology.exchange,
            routing_key=COMPILE_COMPLETED_V1,
            correlation_id=result.correlation_id,
            message_id=str(result.message_id),
        )
        log.info("result_published", outcome=result.outcome.value, cache_hit=result.cache_hit)


async def _nothing() -> None:
    """Nothing to wait for, beside what there is (``asyncio.gather``)."""
