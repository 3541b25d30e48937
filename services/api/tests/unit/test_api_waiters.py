"""Long-poll wake-ups."""

from uuid import uuid4

from texpipe_api.waiters import JobWaiters


async def test_notify_wakes_only_that_job_and_cleans_up() -> None:
    waiters = JobWaiters()
    job, other = uuid4(), uuid4()
    with waiters.watch(job) as first, waiters.watch(job) as second, waiters.watch(other) as third:
        assert waiters.count == 3
        waiters.notify(job)
        assert first.is_set()
        assert second.is_set()
        assert not third.is_set()
    assert waiters.count == 0
    waiters.notify(job)  # nobody waiting: nothing happens


async def test_close_wakes_everyone_now_and_later() -> None:
    waiters = JobWaiters()
    with waiters.watch(uuid4()) as event:
        waiters.close()
        assert event.is_set()
    with waiters.watch(uuid4()) as late:
        assert late.is_set()
