"""Graceful shutdown: let in-flight work finish within a grace period, then give it back."""

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class InFlight:
    """Counts work in progress so that shutdown can wait for it to drain."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        """How many units of work are running."""
        return self._count

    def __enter__(self) -> "InFlight":
        self._count += 1
        self._idle.clear()
        return self

    def __exit__(self, *_: object) -> None:
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    async def drain(self, grace_s: float) -> bool:
        """Wait until idle or ``grace_s`` passes; True when everything finished."""
        if self._count:
            log.info("draining_in_flight", in_flight=self._count, grace_s=grace_s)
        try:
            await asyncio.wait_for(self._idle.wait(), grace_s)
        except TimeoutError:
            log.warning("grace_period_over", in_flight=self._count)
            return False
        return True


async def stop_consumers_then_drain(
    stop_consumers: Callable[[], Awaitable[None]], in_flight: InFlight, grace_s: float
) -> bool:
    """Stop taking messages, then wait for in-flight work (unacked work is redelivered)."""
    await stop_consumers()
    return await in_flight.drain(grace_s)
