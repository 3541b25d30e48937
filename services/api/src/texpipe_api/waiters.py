"""Wake long-polls when their job becomes final, without a sleep loop per request.

Each waiting request holds its own :class:`asyncio.Event`, registered under the job id. The
NOTIFY listener (``notify.py``) calls :meth:`JobWaiters.notify` with the job id that a
transaction (in this process or another) made final, and :meth:`JobWaiters.notify_all` when
notifications may have been missed (the listener reconnected) or the process is stopping.
"""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID


class JobWaiters:
    """Registry of events of the requests waiting for a job."""

    def __init__(self) -> None:
        self._waiting: dict[UUID, set[asyncio.Event]] = {}
        self.closing = False

    @contextmanager
    def watch(self, job_id: UUID) -> Iterator[asyncio.Event]:
        """An event set when ``job_id`` may have changed; register before re-reading the job."""
        event = asyncio.Event()
        if self.closing:
            event.set()
        self._waiting.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(job_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[job_id]

    def notify(self, job_id: UUID) -> None:
        """Wake every request waiting for ``job_id``."""
        for event in self._waiting.get(job_id, ()):
            event.set()

    def notify_all(self) -> None:
        """Wake every waiting request (each re-reads its job)."""
        for events in self._waiting.values():
            for event in events:
                event.set()

    def close(self) -> None:
        """Shutting down: answer every long-poll now instead of holding the shutdown."""
        self.closing = True
        self.notify_all()

    @property
    def count(self) -> int:
        """How many requests are waiting."""
        return sum(len(events) for events in self._waiting.values())
