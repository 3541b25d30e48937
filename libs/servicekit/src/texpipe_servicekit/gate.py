"""Pausing a consumer while a dependency it needs is down, and resuming when it answers.

A consumer whose work fails because S3, the broker, the api or PostgreSQL is unreachable
``trip``\\s the gate for that dependency. From then on every delivery of that consumer waits at
:meth:`DependencyGate.wait_open` before doing anything (it is held, unacked, so it stays whole
and spends nothing), and since the channel's prefetch is full of held deliveries the broker
sends no more: the rest of the queue waits in the queue. One probe task per tripped dependency
calls its probe with exponential backoff and full jitter (tenacity's
``wait_random_exponential``, from ``base_s`` up to ``cap_s``); the first answer reopens the gate.

``/ready`` names the paused dependencies (:meth:`DependencyGate.check`), and ``/metrics`` has
``texpipe_consumer_paused{dependency}`` (1 while paused) and
``texpipe_consumer_pauses_total{dependency}`` (docs/metrics.md).
"""

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

import structlog
from faststream import Context
from prometheus_client import Counter, Gauge
from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_random_exponential

Probe = Callable[[], Awaitable[object]]

PAUSED = Gauge(
    "texpipe_consumer_paused",
    "1 while the service's consumers hold their messages because a dependency is down.",
    ["dependency"],
)
PAUSES = Counter(
    "texpipe_consumer_pauses_total",
    "Times consumption paused because a dependency stopped answering.",
    ["dependency"],
)

log = structlog.get_logger(__name__)


class OutageError(Exception):
    """Work failed because ``dependency`` is unreachable; the message itself is fine."""

    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency}: {reason}")
        self.dependency, self.reason = dependency, reason


class ConsumerPausedError(Exception):
    """Raised by the readiness check while a dependency is paused."""


class DependencyGate:
    """Open while every dependency answers; closed (consumers hold) while one does not.

    ``probes`` maps a dependency name (``s3``, ``broker``, ``api``...) to a coroutine that
    raises while it is down. ``base_s``/``cap_s`` bound the wait between probes (seconds).
    """

    def __init__(
        self, probes: Mapping[str, Probe], *, base_s: float = 1.0, cap_s: float = 30.0
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError(f"need 0 < base_s <= cap_s, got {base_s} and {cap_s}")
        self._probes = dict(probes)
        self._base_s, self._cap_s = base_s, cap_s
        self._paused: dict[str, tuple[str, float]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._open = asyncio.Event()
        self._open.set()
        self._released = False
        for name in self._probes:
            PAUSED.labels(dependency=name).set(0)

    @property
    def paused(self) -> dict[str, str]:
        """The dependencies that are down, each with the failure that paused it."""
        return {name: reason for name, (reason, _) in self._paused.items()}

    def trip(self, outage: OutageError) -> None:
        """Pause for ``outage.dependency`` (a no-op while it is already paused)."""
        name = outage.dependency
        if name not in self._probes:
            raise KeyError(f"no probe for dependency {name!r}")
        if name in self._paused:
            return
        self._paused[name] = (outage.reason, time.monotonic())
        if not self._released:
            self._open.clear()
        PAUSED.labels(dependency=name).set(1)
        PAUSES.labels(dependency=name).inc()
        log.warning("consumer_paused", dependency=name, reason=outage.reason[:500])
        self._tasks[name] = asyncio.create_task(self._probe(name), name=f"probe-{name}")

    async def wait_open(self) -> bool:
        """True once no dependency is paused; False when the service is stopping while one
        still is (:meth:`release`): the caller then gives its message back."""
        while not self._open.is_set():
            await self._open.wait()
        return not (self._released and self._paused)

    async def release(self) -> None:
        """The service stops: wake every held delivery now (a FastStream ``on_shutdown``
        hook, which runs before the broker's graceful wait), so that held messages are given
        back at once instead of holding the shutdown and being returned by a closing channel."""
        self._released = True
        self._open.set()

    async def check(self) -> None:
        """A /ready check: raises naming each paused dependency and why."""
        if self._paused:
            detail = "; ".join(f"{n} ({r[:200]})" for n, r in sorted(self.paused.items()))
            raise ConsumerPausedError(f"consumption paused, waiting for: {detail}")

    async def close(self) -> None:
        """Stop probing (shutdown)."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _probe(self, name: str) -> None:
        probe = self._probes[name]
        # The first probe waits too, so that a dependency that answers its probe but still
        # fails the work (a setup error, say) is retried at most once per base_s.
        await asyncio.sleep(self._base_s * (0.5 + random.random() / 2))
        retrying = AsyncRetrying(
            wait=wait_random_exponential(multiplier=self._base_s, max=self._cap_s),
            retry=retry_if_exception_type(Exception),
            stop=stop_never,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await probe()
        _, since = self._paused.pop(name)
        self._tasks.pop(name, None)
        PAUSED.labels(dependency=name).set(0)
        log.info("consumer_resumed", dependency=name, paused_s=round(time.monotonic() - since, 3))
        if not self._paused:
            self._open.set()


GATE = "dependency_gate"
"""The FastStream context name a service sets its gate under (``context.set_global``)."""


async def release_gate(
    gate: Annotated[DependencyGate | None, Context(GATE, default=None)],
) -> None:
    """A FastStream ``on_shutdown`` hook: give held messages back before the graceful wait
    (nothing to do when the service stops before its gate exists)."""
    if gate is not None:
        await gate.release()
