"""The job states: every state but queued is final; unknown strings are not final."""

from texpipe_contracts.jobs import FINAL_STATES, JobState, is_final


def test_every_state_but_queued_is_final() -> None:
    assert set(JobState) - FINAL_STATES == {JobState.QUEUED}
    assert is_final("superseded")
    assert is_final(JobState.DEAD)
    assert not is_final("queued")
    assert not is_final("a_state_from_a_newer_api")
