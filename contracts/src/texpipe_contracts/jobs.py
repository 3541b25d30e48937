"""The states of a compile job: one vocabulary for the api, the CLI, the tests and the tools.

A job is ``queued`` from the compile request until its result (or its end) is recorded; every
other state is final. ``dead`` is final for a client, though a replayed dead letter may still
revive the job (the api's stale check takes a result for it). Adding a state is one line here
plus a migration that admits it in ``jobs.state`` (a test compares the two).
"""

from enum import StrEnum


class JobState(StrEnum):
    """Where a compile job stands (``GET /v1/jobs/{id}``: ``state``). Every state but
    ``queued`` is final."""

    QUEUED = "queued"  # waiting to be published, compiled, or for its result to be recorded
    APPLIED = "applied"  # its PDF is (or was) the document's PDF
    STALE = "stale"  # compiled, but the document had moved on: its PDF was not applied
    FAILED = "failed"  # the LaTeX did not compile; the document keeps its PDF
    TIMED_OUT = "timed_out"  # the compile hit its time limit
    REJECTED = "rejected"  # the compiler refused the sources (a limit, a path rule)
    DEAD = "dead"  # the pipeline gave up on it (a dead letter names the reason)
    SUPERSEDED = "superseded"  # a newer compile request of the document replaced it unstarted
    CANCELLED = "cancelled"  # a client cancelled it (POST /v1/jobs/{id}/cancel)


FINAL_STATES: frozenset[JobState] = frozenset(JobState) - {JobState.QUEUED}
"""States a client stops waiting at: the job will not change without outside help."""


def is_final(state: str) -> bool:
    """Whether ``state`` is final (any string: a state this code does not know is not)."""
    return state in FINAL_STATES
