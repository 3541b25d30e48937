"""The outbox relay: publishes committed outbox rows to RabbitMQ with publisher confirms.

A compile request writes its job and an outbox row in one transaction (``db/queries.py``);
this relay, running inside every api process, turns rows into ``compile.requested.v1``
messages. Events take the same road: the transaction that applies a PDF writes its
``document.pdf_applied.v1`` row, the one that cancels a job its
``compile.cancel_requested.v1`` row (:func:`enqueue_event`, the whole message stored);
events are published without ``mandatory``, since whoever wants them binds the queue.

It claims rows with ``FOR UPDATE SKIP LOCKED`` inside a transaction that stays open while it
publishes, so several relays (several api processes) never publish the same row, and
marks a row sent only after the broker confirmed its message. A crash between the confirm and
the commit publishes that row again later: delivery is at least once, with a stable
``message_id`` so consumers recognise the duplicate.

At most one compile per document is in flight: a row is held while an earlier job of its
document is still queued (``outbox_queries._CLAIM``), and goes out once that job is final. A
newer compile request supersedes a held row's job before it is ever published (``jobs.py``),
so a burst of edits compiles the first revision and the newest one.

It wakes on NOTIFY (``notify.py`` calls :meth:`OutboxRelay.wake`): a new outbox row, or a job
that became final (a held row may be free). It sweeps every few seconds anyway, so a lost
notification only delays a message. With the broker or PostgreSQL down it
keeps retrying; no row is given up on for an outage, and requests are still accepted while
only the broker is down. Publishing goes through the service kit's broker edge
(``texpipe_servicekit.rabbit.publish_confirmed``: persistent, mandatory, confirmed).
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from faststream.rabbit import RabbitBroker
from texpipe_contracts.topology import (
    COMPILE_CANCEL_REQUESTED_V1,
    COMPILE_REQUESTED_V1,
    PDF_APPLIED_V1,
    ExchangeSpec,
)
from texpipe_contracts.v1 import (
    CompileCancelRequested,
    CompileRequested,
    Engine,
    PdfApplied,
    SourceBundleRef,
)
from texpipe_contracts.v1.common import Envelope
from texpipe_servicekit.rabbit import connected_node, new_publisher, publish_confirmed

from texpipe_api import metrics
from texpipe_api.db import job_queries, outbox_queries
from texpipe_api.db.conn import Conn

log = structlog.get_logger(__name__)

MESSAGE_TYPE = "latex.compile.requested.v1"


@dataclass(frozen=True, slots=True)
class EventKind:
    """An outbox kind whose message is stored whole: its model and where it goes."""

    kind: str
    model: type[PdfApplied] | type[CompileCancelRequested]
    routing_key: str
    message_type: str


PDF_APPLIED = EventKind("pdf_applied", PdfApplied, PDF_APPLIED_V1, "document.pdf_applied.v1")
CANCEL_REQUESTED = EventKind(
    "cancel_requested",
    CompileCancelRequested,
    COMPILE_CANCEL_REQUESTED_V1,
    "latex.compile.cancel_requested.v1",
)
EVENT_KINDS = {kind.kind: kind for kind in (PDF_APPLIED, CANCEL_REQUESTED)}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish, with where to."""

    message: Envelope
    routing_key: str
    message_type: str
    mandatory: bool


async def enqueue_event(conn: Conn, message: PdfApplied | CompileCancelRequested) -> None:
    """Store ``message`` in the outbox, in the caller's transaction; the relay publishes it."""
    kind = PDF_APPLIED if isinstance(message, PdfApplied) else CANCEL_REQUESTED
    await outbox_queries.insert_event(
        conn,
        job_id=message.job_id,
        message_id=message.message_id,
        kind=kind.kind,
        payload=message.model_dump_json(),
    )


def event_from_row(row: asyncpg.Record) -> Outgoing:
    """The stored event of an outbox row (ValueError when it cannot be read back)."""
    kind = EVENT_KINDS.get(row["kind"])
    if kind is None:
        raise ValueError(f"unknown outbox kind {row['kind']!r}")
    message = kind.model.model_validate_json(row["payload"])
    return Outgoing(message, kind.routing_key, kind.message_type, mandatory=False)


def message_from_row(row: asyncpg.Record) -> CompileRequested:
    """The message an outbox row stands for (rebuilt identically on every attempt)."""
    return CompileRequested(
        message_id=row["message_id"],
        job_id=row["job_id"],
        produced_at=row["created_at"],
        document_id=row["document_id"],
        revision=row["revision"],
        source=SourceBundleRef(
            key=row["source_key"], sha256=row["source_sha256"], size=row["source_size"]
        ),
        main_file=row["main_file"],
        engine=Engine(row["engine"]),
        # \today and the PDF's dates: the day the author saved this revision.
        source_date_epoch=int(row["revision_created_at"].timestamp()),
        timeout_ms=row["timeout_ms"],
    )


class OutboxRelay:
    """Drains the outbox to the exchange; one per api process, any number per database."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        amqp_url: str,
        exchange: ExchangeSpec,
        batch_size: int,
        sweep_s: float,
        retry_s: float,
        linger_s: float = 0.0,
        workers: int = 1,
        hold_max_s: float = 600.0,
        settle_s: float = 0.0,
        settle_max_s: float = 2.0,
    ) -> None:
        self._pool = pool
        self._amqp_url = amqp_url
        self._exchange = exchange
        self._batch_size = batch_size
        self._sweep_s = sweep_s
        self._retry_s = retry_s
        self._linger_s = linger_s
        self._workers = workers
        self._hold_max = timedelta(seconds=hold_max_s)
        self._settle = timedelta(seconds=settle_s)
        self._settle_max = timedelta(seconds=settle_max_s)
        self._wake = asyncio.Event()
        self._broker: RabbitBroker | None = None
        self.published = 0
        """Messages this relay published (and the broker confirmed) since it started."""

    def wake(self) -> None:
        """Something was enqueued: drain now rather than at the next sweep."""
        self._wake.set()

    @property
    def broker_connected(self) -> bool:
        """Whether the relay has connected to the broker (it reconnects by itself after)."""
        return self._broker is not None

    async def ping(self) -> dict[str, str]:
        """The /ready check: ``{"node": "host:port"}``, the broker node the relay publishes
        to; raises while the broker connection is down."""
        node = None if self._broker is None else await connected_node(self._broker)
        if node is None:
            raise ConnectionError("no connection to RabbitMQ")
        return {"node": node}

    async def run(self) -> None:
        """Publish until cancelled, never giving up on a broker or database outage."""
        while True:
            self._wake.clear()
            try:
                await self.drain(await self._ensure_broker())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_relay_error", error=f"{type(exc).__name__}: {exc}"[:500])
                await asyncio.sleep(self._retry_s)
                continue
            # Rows committed while it drained: the relay is under load (and drains again now).
            busy = self._wake.is_set()
            look_s = self._sweep_s if busy else await self._next_look_s()
            try:
                await asyncio.wait_for(self._wake.wait(), look_s)
            except TimeoutError:
                if look_s >= self._sweep_s:
                    await self._sample_pending()
            else:
                if busy:
                    # Under load every request wakes the relay: lingering a moment turns a
                    # stream of one-row transactions into batches (fewer round trips,
                    # pipelined confirms). A request to an idle relay goes out at once.
                    await asyncio.sleep(self._linger_s)

    async def _next_look_s(self) -> float:
        """The sweep, or sooner when a request held by the settle rule comes due."""
        if not self._settle:
            return self._sweep_s
        try:
            async with self._pool.acquire() as conn:
                due = await outbox_queries.seconds_until_settled(
                    conn, settle=self._settle, settle_max=self._settle_max
                )
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox_settle_check_failed", error=str(exc)[:300])
            return self._retry_s
        return self._sweep_s if due is None else min(self._sweep_s, max(due, 0.0) + 0.005)

    async def _sample_pending(self) -> None:
        try:
            async with self._pool.acquire() as conn:
                metrics.OUTBOX_PENDING.set(await outbox_queries.pending_count(conn))
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox_pending_sample_failed", error=str(exc)[:300])

    async def close(self) -> None:
        """Close the broker connection."""
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None

    async def _ensure_broker(self) -> RabbitBroker:
        if self._broker is not None:
            return self._broker
        # The connection reconnects by itself once it has connected the first time; the first
        # connect fails fast when the broker is down, and run() retries it.
        broker = new_publisher(self._amqp_url, service="texpipe-api")
        try:
            await broker.connect()
        except BaseException:
            await broker.stop()
            raise
        self._broker = broker
        log.info("outbox_relay_connected", exchange=self._exchange.name)
        return broker

    async def drain(self, broker: RabbitBroker) -> int:
        """Publish every pending row; returns how many were published.

        Several workers claim batches side by side (SKIP LOCKED keeps them apart): the broker's
        confirms for a quorum queue take a disk sync, so one batch waiting for its confirms
        must not hold up the next.
        """
        results = await asyncio.gather(
            *(self._drain_worker(broker) for _ in range(self._workers)), return_exceptions=True
        )
        errors = [res for res in results if isinstance(res, BaseException)]
        if errors:
            raise errors[0]
        return sum(res for res in results if isinstance(res, int))

    async def _drain_worker(self, broker: RabbitBroker) -> int:
        total = 0
        while True:
            published, claimed, error = await self._publish_batch(broker)
            total += published
            if error is not None:
                raise error
            if claimed < self._batch_size:
                return total

    async def _publish_batch(self, broker: RabbitBroker) -> tuple[int, int, Exception | None]:
        async with self._pool.acquire() as conn, conn.transaction():
            requests = await outbox_queries.claim_pending(
                conn, self._batch_size, hold_max=self._hold_max,
                settle=self._settle, settle_max=self._settle_max,
            )  # fmt: skip
            events = await outbox_queries.claim_pending_events(conn, self._batch_size)
            claimed = max(len(requests), len(events))
            if not claimed:
                return 0, 0, None
            ready = await self._build_messages(conn, requests) + await self._read_events(
                conn, events
            )
            # Publishing the whole batch at once pipelines the confirms: one round trip.
            results: list[Any] = await asyncio.gather(
                *(self._publish(broker, message) for _, message in ready),
                return_exceptions=True,
            )
            sent = [row_id for (row_id, _), res in zip(ready, results, strict=True) if res is None]
            if sent:
                await outbox_queries.mark_published(conn, sent)
        metrics.OUTBOX_PUBLISHED.inc(len(sent))
        self.published += len(sent)
        errors = [res for res in results if isinstance(res, BaseException)]
        for res in errors:
            if not isinstance(res, Exception):
                raise res  # cancellation and the like
        if errors:
            metrics.OUTBOX_PUBLISH_FAILURES.inc(len(errors))
            first = errors[0]
            assert isinstance(first, Exception)
            return len(sent), claimed, first
        return len(sent), claimed, None

    async def _build_messages(
        self, conn: Conn, rows: list[asyncpg.Record]
    ) -> list[tuple[int, Outgoing]]:
        """(row id, message) for each row whose message can be built. Any other row would fail
        on every attempt (say a stored value a newer contract refuses), so its job ends
        ``dead`` with the reason and the row is settled, rather than staying ``queued``."""
        good = []
        for row in rows:
            try:
                message = message_from_row(row)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                reason = f"the compile request cannot be built: {exc}"[:2000]
                log.error("outbox_row_unpublishable", job_id=str(row["job_id"]), reason=reason)
                await job_queries.mark_dead(conn, job_id=row["job_id"], reason=reason, queue="")
                await outbox_queries.mark_published(conn, [row["id"]])
            else:
                good.append(
                    (row["id"], Outgoing(message, COMPILE_REQUESTED_V1, MESSAGE_TYPE, True))
                )
        return good

    async def _read_events(
        self, conn: Conn, rows: list[asyncpg.Record]
    ) -> list[tuple[int, Outgoing]]:
        """(row id, message) of each event row; one that cannot be read back (written by a
        newer api with a field this one refuses, say) is settled with an error log rather
        than blocking the outbox."""
        good = []
        for row in rows:
            try:
                good.append((row["id"], event_from_row(row)))
            except ValueError as exc:
                log.error("outbox_event_unpublishable", kind=row["kind"], error=str(exc)[:2000])
                await outbox_queries.mark_published(conn, [row["id"]])
        return good

    async def _publish(self, broker: RabbitBroker, out: Outgoing) -> None:
        message = out.message
        await publish_confirmed(
            broker,
            message.model_dump_json().encode("utf-8"),
            exchange=self._exchange,
            routing_key=out.routing_key,
            message_id=str(message.message_id),
            correlation_id=message.correlation_id,
            timestamp=message.produced_at,
            message_type=out.message_type,
            mandatory=out.mandatory,
        )
