"""What a server says of its limit in ``X-RateLimit-Remaining`` / ``-Reset``: pure, no clock.

Some servers count a quota per window and say how much of it is left and when it is whole
again. Then there is no need to find the limit by its 429s: spend what is left evenly over the
time to the reset, and never more than it. A token bucket may send the same headers (``Reset``
the time until it is *full*, ``Remaining`` its whole tokens), but it refills long before that
moment: obeying them would crawl (a bucket of burst 1 always says 0 left); so does a sliding
window (``Reset`` the time until its newest request leaves it). So the headers are obeyed only
once the quota has shown it is a fixed window's: ``Remaining`` rose when the reset was due,
*and* the reset moved later at once (a new window began). A quota that rises before its reset
refills as it goes, and is left to the adaptive rate (which handles those without headers).

``Reset`` is read as seconds from now, or as a Unix time when it is too large to be a delay
(GitHub's style). It is rounded to whole seconds, so each answer bounds the reset from above
and the bound is tightened answer by answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Quota"]

_REMAINING = ("X-RateLimit-Remaining", "RateLimit-Remaining")
_RESET = ("X-RateLimit-Reset", "RateLimit-Reset")


def _number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                number = float(value.strip())
            except ValueError:
                return None
            return number if math.isfinite(number) and number >= 0 else None
    return None


@dataclass
class Quota:
    left: int | None = None  # requests that may still be sent before ``reset_at`` (None: unknown)
    reset_at: float = 0.0  # the latest the current quota can be whole again
    kind: str | None = None  # "window" once a reset was seen, "bucket" once a refill was
    seen: bool = False  # whether any answer carried the headers
    _said: int | None = None  # the last answer's Remaining

    @property
    def windowed(self) -> bool:
        return self.kind == "window"

    def observe(
        self, headers: Mapping[str, str], now: float, wall: float, others_in_flight: int
    ) -> float | None:
        """Read an answer's headers (``wall``: the Unix time, for a reset given as one); the
        pace that spends what is left evenly until the reset, or None (no advice)."""
        remaining = _number(headers, _REMAINING)
        if remaining is None:
            return None  # (most servers: checked first, so that it costs one or two lookups)
        reset = _number(headers, _RESET)
        if reset is None:
            return None
        if reset > 1e8:  # a Unix time, not a delay
            reset = max(0.0, reset - wall)
        self.seen = True
        # The requests still out may have been counted after this answer or not: count them
        # as spent.
        said = int(remaining)
        left = said - others_in_flight
        reset_at = now + reset
        last, self._said = self._said, said
        # Answers out of order can say more left than the one before by as many as were out.
        if last is not None and said > last + others_in_flight + 1 and self.kind != "bucket":
            # More left than before. A new window, if it came when the last one was due to end
            # and its reset lies later. Otherwise the quota refills as it goes (a bucket, a
            # sliding window): such a one stays so, and its headers are never worth obeying.
            due = now >= self.reset_at - 1.0
            self.kind = "window" if due and reset_at > max(now, self.reset_at) + 1.5 else "bucket"
        elif self.left is not None and abs(reset_at - self.reset_at) <= 1.0:
            # The same reset said again, in whole seconds: the tighter of the two bounds.
            reset_at = min(reset_at, self.reset_at)
        self.left, self.reset_at = left, reset_at
        if self.kind != "window":
            return None
        return max(left, 1) / max(reset_at - now, 0.5)

    def wait(self, now: float) -> float:
        """Seconds to wait before one more request may go (0: now)."""
        if self.kind != "window" or self.left is None or self.left > 0:
            return 0.0
        return max(0.0, self.reset_at - now)

    def on_send(self, now: float) -> None:
        # Past the reset, a new quota: nothing known of it until its first answer.
        if self.left is not None and now < self.reset_at:
            self.left -= 1
