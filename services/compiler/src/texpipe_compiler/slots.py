"""Compile slots: at most N compiles at once, each slot with a uid of its own.

Two sandboxes never share a uid, so one job's processes count against its own RLIMIT_NPROC
only and can never signal another job's.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator


class SlotPool:
    """``size`` slots; a slot's uid is ``uid_base + index`` (None when not running as root)."""

    def __init__(self, size: int, uid_base: int | None) -> None:
        self._free: asyncio.Queue[int] = asyncio.Queue()
        for index in range(size):
            self._free.put_nowait(index)
        self._uid_base = uid_base

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[int | None]:
        """Wait for a free slot; yields the uid its sandbox runs as."""
        index = await self._free.get()
        try:
            yield None if self._uid_base is None else self._uid_base + index
        finally:
            self._free.put_nowait(index)
