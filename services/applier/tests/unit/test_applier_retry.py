"""RetryPolicy: exponential growth, cap, jitter bounds, the retry budget."""

import pytest
from texpipe_applier.retry import JITTER_MIN_FRACTION, RetryPolicy


def test_defaults_span_at_least_four_minutes_even_at_minimum_jitter() -> None:
    policy = RetryPolicy(rand=lambda: 0.0)
    assert policy.max_retries == 8
    delays = [policy.delay_for(n) for n in range(1, 9)]
    assert all(d is not None for d in delays)
    assert sum(d for d in delays if d is not None) == policy.shortest_span() >= 240


def test_delays_grow_exponentially_then_stop_at_the_cap() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=10.0, max_retries=8, rand=lambda: 1.0)
    assert [policy.delay_for(n) for n in range(1, 9)] == [1, 2, 4, 8, 10, 10, 10, 10]


def test_jitter_stays_between_half_and_the_full_nominal_delay() -> None:
    low = RetryPolicy(base_s=2.0, cap_s=100.0, rand=lambda: 0.0)
    high = RetryPolicy(base_s=2.0, cap_s=100.0, rand=lambda: 0.999999)
    for attempt in range(1, 9):
        nominal = low.nominal_delay(attempt)
        assert low.delay_for(attempt) == pytest.approx(nominal * JITTER_MIN_FRACTION)
        assert nominal * JITTER_MIN_FRACTION <= (high.delay_for(attempt) or 0) <= nominal


def test_real_jitter_differs_between_calls() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=60.0)
    assert len({policy.delay_for(5) for _ in range(20)}) > 1


def test_no_delay_once_the_retries_are_spent() -> None:
    policy = RetryPolicy(max_retries=8)
    assert policy.delay_for(8) is not None
    assert policy.delay_for(9) is None
    assert RetryPolicy(max_retries=0).delay_for(1) is None


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=5.0, max_retries=10_000, rand=lambda: 1.0)
    assert policy.delay_for(5000) == 5.0


@pytest.mark.parametrize(
    ("base", "cap", "retries"), [(0.0, 1.0, 8), (2.0, 1.0, 8), (1.0, 2.0, -1), (-1.0, 2.0, 3)]
)
def test_nonsense_settings_are_refused(base: float, cap: float, retries: int) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        RetryPolicy(base_s=base, cap_s=cap, max_retries=retries)


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        RetryPolicy().nominal_delay(0)
