"""The jobs this compiler heard were cancelled, remembered for a while (pure, no I/O).

A ``compile.cancel_requested.v1`` reaches every compiler process. The one compiling the job
stops it; any of them may later take the job's request from the queue (it was published
before the cancel), and skips it if it still remembers the cancel. Memory is bounded: past
``capacity`` job ids the oldest are forgotten, and a forgotten cancel only costs a compile
whose result the api refuses.
"""

from collections import OrderedDict
from uuid import UUID

CAPACITY = 10_000
"""About a megabyte of job ids: hours of cancels at any rate texpipe sees."""


class RecentCancels:
    """Job ids cancelled lately, oldest forgotten first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._jobs: OrderedDict[UUID, None] = OrderedDict()

    def add(self, job_id: UUID) -> None:
        """Remember that ``job_id`` was cancelled."""
        self._jobs[job_id] = None
        self._jobs.move_to_end(job_id)
        while len(self._jobs) > self._capacity:
            self._jobs.popitem(last=False)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def __len__(self) -> int:
        return len(self._jobs)
