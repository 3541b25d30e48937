"""Progress while ``--wait`` waits: one live line on a terminal, plain lines otherwise.

On a terminal a spinner redraws ``queued 3.2 s`` in place every tenth of a second (the
long-poll itself only answers when the job is final); in a pipe or a log file each state is
printed once, so CI logs stay readable.
"""

import asyncio
import contextlib
import time
from typing import TextIO

SPINNER = "|/-\\"
TICK_S = 0.1


def waiting_line(state: str, elapsed_s: float, frame: int) -> str:
    """The live line: a spinner, the state and the time waited."""
    return f"{SPINNER[frame % len(SPINNER)]} {state} {elapsed_s:.1f} s"


def state_line(state: str, elapsed_s: float) -> str:
    """A state change as a plain line (not a terminal)."""
    return f"{state} ({elapsed_s:.1f} s)"


class Progress:
    """Shows a waiting job's state on ``stream`` until :meth:`close`."""

    def __init__(self, stream: TextIO, *, live: bool | None = None) -> None:
        self._stream = stream
        self._live = stream.isatty() if live is None else live
        self._started = time.monotonic()
        self._state = ""
        self._frame = 0
        self._ticker: asyncio.Task[None] | None = None

    @property
    def elapsed_s(self) -> float:
        """Seconds since the wait started."""
        return time.monotonic() - self._started

    def state(self, state: str) -> None:
        """The job is now in ``state``."""
        if state == self._state:
            return
        self._state = state
        if self._live:
            self._draw()
            if self._ticker is None:
                self._ticker = asyncio.get_running_loop().create_task(self._tick())
        else:
            print(state_line(state, self.elapsed_s), file=self._stream, flush=True)

    def note(self, text: str) -> None:
        """A line that stays (a retry, a warning), printed above the live line."""
        self._clear()
        print(text, file=self._stream, flush=True)
        if self._live and self._state:
            self._draw()

    async def close(self) -> None:
        """Stop the spinner and leave the terminal line empty."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._clear()

    def _draw(self) -> None:
        line = waiting_line(self._state, self.elapsed_s, self._frame)
        self._stream.write(f"\r\x1b[K{line}")
        self._stream.flush()

    def _clear(self) -> None:
        if self._live:
            self._stream.write("\r\x1b[K")
            self._stream.flush()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._frame += 1
            self._draw()
