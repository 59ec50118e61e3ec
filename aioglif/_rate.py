"""Finding an unknown rate limit from the 429s: a pure controller, no clock of its own.

Before the first 429 the rate grows by half each second without one (slow start). A 429 marks
the rate at which it came as the ceiling and drops to a little below it; from there the rate
creeps up by a small fraction of the ceiling each clean second, so that 429s stay rare (each one
also pauses the client for its Retry-After) while a limit that was raised is found again.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AdaptiveRate"]


@dataclass
class AdaptiveRate:
    rate: float = 10.0
    floor: float = 0.5
    growth: float = 1.5  # slow start: the factor per clean second before any 429
    # After a 429: this fraction of the rate it came at. Slow start overshoots the limit by at
    # most its growth, so 0.85 of the overshoot lands just under the limit.
    backoff: float = 0.85
    # Then this fraction of the ceiling added per clean second: slow, because every 429 also
    # costs a pause of its Retry-After (whole seconds) for the whole client.
    probe: float = 0.001
    quiet: float = 2.0  # 429s within this many seconds of a decrease are the same event
    ceiling: float | None = None
    _changed_at: float | None = None

    def on_rate_limited(self, now: float) -> float | None:
        """A 429 arrived: the new rate, or None if it is the same event as the last decrease."""
        if self._changed_at is not None and now - self._changed_at < self.quiet and self.ceiling is not None:
            return None
        self.ceiling = self.rate
        self.rate = max(self.floor, self.rate * self.backoff)
        self._changed_at = now
        return self.rate

    def on_success(self, now: float) -> float | None:
        """A request went through: the new rate once a clean second has passed, else None."""
        if self._changed_at is None:
            self._changed_at = now
            return None
        elapsed = now - self._changed_at
        if elapsed < 1.0:
            return None
        if self.ceiling is None:
            self.rate *= self.growth ** min(elapsed, 5.0)
        else:
            self.rate += self.probe * self.ceiling * min(elapsed, 5.0)
        self._changed_at = now
        return self.rate
