"""Finding an unknown rate limit from the 429s: a pure controller, no clock of its own.

Servers count in different shapes (token buckets with a small or a large burst, fixed or sliding
windows, caps on requests in flight), so the controller assumes none of them. It reads the rate
it set, the successes between two 429s, and the time the client spent paused between them.

- Before the first 429 the rate grows by half each second (slow start); a rate the caller told
  is a cap instead: kept while no 429 comes, and never exceeded after one.
- A 429 for a request sent *after* the last event is a new event; the others were paced at the
  old rate and say nothing new (a 429 on a probe after a pause is not counted at all: it says
  the pause was short, not the pace fast).
- At an event the rate drops to the lower of a little below itself and a little below what
  got through since the previous event, pauses included (a bucket refills while the client
  waits; a large burst or a long window only fools the first event). From there it climbs
  back quickly to what got through while the client was *sending* (a fixed window's quota or a
  strict spacing is lost while it waits), and then creeps up by a small fraction each clean
  second, so that 429s stay rare (each one pauses the whole client) while a limit that was
  raised is found again.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

__all__ = ["AdaptiveRate"]


@dataclass
class AdaptiveRate:
    rate: float = 10.0
    floor: float = 0.5
    growth: float = 1.5  # slow start: the factor per clean second before any 429
    backoff: float = 0.93  # at an event, at most this fraction of the rate
    margin: float = 0.97  # ... and at most this fraction of the pace measured before it
    # Then this fraction of the rate added per clean second: slow, because every 429 also
    # costs a pause of the whole client, and a limit is met again only every 1/probe seconds.
    probe: float = 0.003
    recovery: float = 1.25  # per clean second, back up to the last believable estimate
    reach: float = 1.15  # ... no further above the drop than this, after a mostly paused stretch
    # Successes an estimate must rest on to be believed.
    min_between: int = 10
    # A rate the caller told: never gone above, and no slow start (it begins there). Without
    # 429s it is kept exactly; after one it is the most the controller climbs back to.
    cap: float | None = None
    ceiling: float | None = None  # the rate at the last event
    estimate: float | None = None  # the last believable measure of the server's pace
    _changed_at: float | None = None
    _event_at: float | None = None
    _seconds: deque[list[float]] = field(default_factory=deque)  # [second, successes] of 60 s
    _pauses: deque[list[float]] = field(default_factory=deque)  # [start, end] of 60 s

    def on_pause(self, now: float, seconds: float) -> None:
        """The client stops for ``seconds`` from ``now``: no measure of the server's pace."""
        pauses = self._pauses
        if pauses and pauses[-1][1] >= now:
            pauses[-1][1] = max(pauses[-1][1], now + seconds)
        else:
            pauses.append([now, now + seconds])
        while pauses[0][1] < now - 60:
            pauses.popleft()

    def _measured(self, now: float, since: float) -> tuple[int, float]:
        """Successes since ``since`` (to the second) and the seconds the client was not paused."""
        start = math.floor(since)
        n = sum(int(c) for s, c in self._seconds if s >= start)
        paused = sum(max(0.0, min(b, now) - max(a, start)) for a, b in self._pauses)
        return n, now - start - paused

    def on_rate_limited(self, now: float, sent_at: float | None = None) -> float | None:
        """A 429 arrived for a request sent at ``sent_at``: the new rate, or None if the request
        left before the last decrease (the same event as that one)."""
        if self._event_at is not None:
            if sent_at is not None and sent_at < self._event_at:
                return None
            if sent_at is None and now - self._event_at < 1.0:
                return None  # no send time: 429s within a second of an event are that event
        new = self.rate * self.backoff
        if self._event_at is not None:
            # Slow start's own history says nothing of the server's pace; since the first 429
            # the server has been pushed to its limit, so what got through is its pace.
            since = max(self._event_at, now - 30.0)
            n, active = self._measured(now, since)
            if n >= self.min_between and active >= 0.5:
                # Over the whole time, pauses included, the pace is a floor (a bucket filled
                # up while the client paused); over the time it was sending, a ceiling (a
                # window's quota or a strict spacing was lost while it paused). Drop to the
                # floor at once, then climb back quickly as far as the ceiling.
                elapsed = max(1e-9, now - math.floor(since))
                floor = max(self.rate / 4, min(new, n / elapsed * self.margin))
                self.estimate = min(n / active * self.margin, new)
                if active < elapsed / 2 and elapsed - active > 2.0:
                    # Paused most of the time: the pace while sending was a window's quota
                    # spent at once, not a pace to climb back to.
                    self.estimate = min(self.estimate, floor * self.reach)
                new = floor
        self.ceiling = self.rate
        self.rate = max(self.floor, new)
        self._changed_at = self._event_at = now
        return self.rate

    def on_success(self, now: float) -> float | None:
        """A request went through: the new rate once a clean second has passed, else None."""
        second = math.floor(now)
        hist = self._seconds
        if hist and hist[-1][0] == second:
            hist[-1][1] += 1
        else:
            hist.append([second, 1])
            while hist[0][0] < second - 60:
                hist.popleft()
        if self._changed_at is None:
            self._changed_at = now
            return None
        elapsed = now - self._changed_at
        if elapsed < 1.0:
            return None
        factor = min(elapsed, 5.0)
        before = self.rate
        if self.ceiling is None and self.cap is None:
            self.rate *= self.growth**factor
        elif self.estimate is not None and self.rate < self.estimate:
            self.rate = min(self.estimate, self.rate * self.recovery**factor)
        else:
            self.rate *= 1.0 + self.probe * factor
        if self.cap is not None:
            self.rate = min(self.rate, self.cap)
        self._changed_at = now
        return self.rate if self.rate != before else None
