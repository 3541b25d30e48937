"""Wait for a job to be final through the api's long-poll, riding out short api outages.

A job the api accepted is not lost when the api restarts (DESIGN.md), so a dropped connection
or a 5xx while waiting is retried with backoff for a while before the CLI gives up.
"""

import asyncio

from texpipe_cli.client import ApiClient
from texpipe_cli.errors import ApiProblemError, ServiceError
from texpipe_cli.models import Job
from texpipe_cli.progress import Progress

POLL_S = 20.0  # below the api's default cap (60 s) and most proxies' idle timeouts
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)


async def wait_for_final(
    api: ApiClient, job_id: str, progress: Progress, *, timeout_s: float, first_state: str
) -> Job:
    """The job once final; ServiceError when ``timeout_s`` passes first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    poll_s = POLL_S
    failures = 0
    state = first_state
    progress.state(state)
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise ServiceError(
                f"job {job_id} is still {state} after {timeout_s:g} s; it goes on, "
                f"see `texpipe status {job_id} --wait`"
            )
        try:
            job = await api.get_job(job_id, wait_s=min(poll_s, remaining))
        except ApiProblemError as exc:
            if exc.status == 422 and poll_s > 1:
                poll_s /= 2  # this api caps the long-poll lower than we asked
                continue
            if exc.status < 500 or failures >= len(RETRY_DELAYS_S):
                raise
            failures = await _pause(progress, str(exc), failures)
            continue
        except ServiceError as exc:
            if failures >= len(RETRY_DELAYS_S):
                raise
            failures = await _pause(progress, str(exc), failures)
            continue
        failures = 0
        state = job.state
        progress.state(state)
        if job.final:
            return job


async def _pause(progress: Progress, why: str, failures: int) -> int:
    delay = RETRY_DELAYS_S[failures]
    progress.note(f"{why}; retrying in {delay:g} s")
    await asyncio.sleep(delay)
    return failures + 1
