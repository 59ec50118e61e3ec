"""The retry policy as pure functions: which failures to retry, and how long to wait."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

__all__ = ["RetryPolicy", "Safety"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class Safety(enum.Enum):
    """How much of a failed request may be repeated without harm.

    IDEMPOTENT: reads; anything transient is retried.
    UNSTARTED: a run costs credits, so only failures that prove it never started (429, a
        connection that was never made) are retried.
    UNSENT: creating a glif twice makes two glifs; only a connection that was never made is retried.
    """

    IDEMPOTENT = "idempotent"
    UNSTARTED = "unstarted"
    UNSENT = "unsent"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    ``attempts`` counts the first try; ``max_elapsed`` caps the whole effort, waits included:
    a retry that would end past it is not made. ``attempts=1`` disables retries.
    """

    attempts: int = 5
    max_elapsed: float = 120.0
    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.max_elapsed < 0 or self.initial < 0 or self.maximum < 0:
            raise ValueError("retry delays must not be negative")

    def step(self, retry: int) -> float:
        """The backoff step of retry number ``retry`` (1-based): min(max, base·m^(n-1))."""
        return min(self.maximum, self.initial * self.multiplier ** (retry - 1))

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``retry`` (1-based): uniform in [0, step(retry)]."""
        return (rng or random).uniform(0.0, self.step(retry))

    def pause(self, retry: int, retry_after: float | None) -> float:
        """How long a 429 stops the whole client: the server's ``Retry-After``, never less than
        one backoff step, so that advice that has already expired (an HTTP-date of a second
        gone by, ``0``) or is absent cannot turn into an instant retry."""
        step = self.step(retry)
        return step if retry_after is None else max(step, retry_after)

    def delay(
        self, retry: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The wait before retry ``retry``, never shorter than the server's ``Retry-After``."""
        wait = self.backoff(retry, rng)
        return wait if retry_after is None else max(wait, retry_after)

    def allows(self, retry: int, elapsed: float, wait: float) -> bool:
        """Whether retry ``retry`` (1-based) may be made after ``elapsed`` seconds and ``wait`` more."""
        return retry < self.attempts and elapsed + wait <= self.max_elapsed


def retryable_status(status: int, safety: Safety) -> bool:
    if safety is Safety.IDEMPOTENT:
        return status in RETRY_STATUSES
    if safety is Safety.UNSTARTED:
        return status == 429
    return False
