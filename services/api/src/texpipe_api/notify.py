"""One dedicated PostgreSQL connection that LISTENs for the api's notifications.

``texpipe_outbox`` wakes the outbox relay; ``texpipe_job_final`` (payload: a job id) wakes the
long-polls of that job; ``texpipe_document_events`` (payload: a document id) wakes the event
streams of that document. The connection is re-established when it drops; after a reconnect
everyone is woken once, because notifications sent meanwhile are lost.
"""

import asyncio
from collections.abc import Callable
from uuid import UUID

import asyncpg
import structlog

from texpipe_api.db.event_queries import DOCUMENT_EVENTS_CHANNEL
from texpipe_api.db.job_queries import JOB_FINAL_CHANNEL, OUTBOX_CHANNEL
from texpipe_api.waiters import JobWaiters

log = structlog.get_logger(__name__)


class NotificationListener:
    """Keeps a LISTEN connection alive and dispatches what it hears."""

    def __init__(
        self,
        dsn: str,
        *,
        waiters: JobWaiters,
        document_waiters: JobWaiters,
        on_outbox: Callable[[], None],
        retry_s: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._waiters = waiters
        self._document_waiters = document_waiters
        self._on_outbox = on_outbox
        self._retry_s = retry_s
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after any failure."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("notify_listener_error", error=f"{type(exc).__name__}: {exc}"[:300])
            self.connected.clear()
            await asyncio.sleep(self._retry_s)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=5)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        try:
            await conn.add_listener(OUTBOX_CHANNEL, self._outbox)
            await conn.add_listener(JOB_FINAL_CHANNEL, self._job_final)
            await conn.add_listener(DOCUMENT_EVENTS_CHANNEL, self._document_events)
            self.connected.set()
            # Anything sent while we were not listening is lost: let everyone look once.
            self._on_outbox()
            self._waiters.notify_all()
            self._document_waiters.notify_all()
            while not lost.is_set():
                # A periodic round trip notices a dead TCP connection that never closed.
                try:
                    await asyncio.wait_for(lost.wait(), 15.0)
                except TimeoutError:
                    await conn.execute("SELECT 1", timeout=5)
        finally:
            if not conn.is_closed():
                await conn.close(timeout=2)

    def _outbox(self, *_: object) -> None:
        self._on_outbox()

    def _job_final(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            job_id = UUID(str(payload))
        except ValueError:
            return
        self._waiters.notify(job_id)

    def _document_events(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            document_id = UUID(str(payload))
        except ValueError:
            return
        self._document_waiters.notify(document_id)
