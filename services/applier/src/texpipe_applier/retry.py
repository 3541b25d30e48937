"""How long a result waits before its next delivery attempt (pure, no clock, no sleep).

Delays grow exponentially from ``base_s`` up to ``cap_s`` and are jittered downwards by up to
half ("equal jitter"), so that results that failed together do not come back together, and the
shortest possible schedule is still half the nominal one. With the defaults (5 s base, 120 s cap,
8 retries) the nominal schedule is 5+10+20+40+80+120+120+120 = 515 s, so even at the minimum
jitter the retries span 257 s: longer than an api restart (DESIGN.md asks for at least 4 minutes).
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_BASE_S = 5.0
DEFAULT_CAP_S = 120.0
DEFAULT_MAX_RETRIES = 8
JITTER_MIN_FRACTION = 0.5
"""The shortest delay is this fraction of the nominal one."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; ``attempt`` counts retries from 1."""

    base_s: float = DEFAULT_BASE_S
    cap_s: float = DEFAULT_CAP_S
    max_retries: int = DEFAULT_MAX_RETRIES
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError(f"need 0 < base_s <= cap_s, got {self.base_s} and {self.cap_s}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def nominal_delay(self, attempt: int) -> float:
        """The un-jittered delay before retry number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"retry attempts count from 1, got {attempt}")
        # Cap the exponent too, so that a huge attempt number cannot overflow a float.
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt - 1, 62))

    def bounds(self, attempt: int) -> tuple[float, float] | None:
        """The shortest and longest delay before retry ``attempt``; None once retries are spent."""
        if attempt > self.max_retries:
            return None
        nominal = self.nominal_delay(attempt)
        return nominal * JITTER_MIN_FRACTION, nominal

    def delay_for(self, attempt: int) -> float | None:
        """Seconds to wait before retry ``attempt``, or None when no retry is left."""
        bounds = self.bounds(attempt)
        if bounds is None:
            return None
        low, high = bounds
        return low + (high - low) * self.rand()

    def shortest_span(self) -> float:
        """The least total time all retries can take (every delay at its minimum jitter)."""
        spans = (self.bounds(attempt) for attempt in range(1, self.max_retries + 1))
        return sum(low for low, _ in filter(None, spans))
