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
  waits; a large burst or a long window only fools the first event; a short time since, mostly
  paused, is measured over the last 10 to 30 s instead, since a sliding window lets through
  only the echo of what it held). From there it climbs
  back quickly to what got through while the client was *sending* (a fixed window's quota or a
  strict spacing is lost while it waits), and then creeps up by a small fraction each clean
  second, so that 429s stay rare (each one pauses the whole client) while a limit that was
  raised is found again. The rate grows only while the client sends at it: a rate nobody
  used says nothing, and would be a burst the day the work comes back.
- A server may cap the requests *being answered* instead (a concurrency cap). Its 429s come
  at a number of requests in flight that the successes almost never reached, at any pace:
  such a 429 lowers ``window`` (the requests the sender lets out at once) below that number
  and leaves the rate alone. The window grows back by one when it was full and clean for a
  while; a number that was refused before is tried again only after a longer and longer wait.
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
    growth: float = 1.3  # slow start: the factor per clean second before any 429
    backoff: float = 0.93  # at an event, at most this fraction of the rate
    margin: float = 0.97  # ... and at most this fraction of the pace measured before it
    # Then this fraction of the rate added per clean second: slow, because every 429 also
    # costs a pause of the whole client, and a limit is met again only every 1/probe seconds.
    probe: float = 0.003
    near: float = 0.98  # climbing back goes quickly no further than this fraction of the last 429's rate
    careful: float = 0.3  # ... then the probe is this much slower until that rate is passed
    recovery: float = 1.25  # per clean second, back up to the last believable estimate
    reach: float = 1.15
    # An event after a time sent for less than this fraction of: the pace while sending was a
    # quota spent at once, and the climb back goes no further than the drop's ``reach``.
    busy: float = 0.6
    settled: float = 15.0  # seconds without a 429 after which one is met with only ...
    settled_backoff: float = (
        0.95  # ... this step back  # ... no further above the drop than this, after a mostly paused stretch
    )
    # Successes an estimate must rest on to be believed.
    min_between: int = 10
    min_span: float = 3.0  # ... and the seconds it must span
    # A rate the caller told: never gone above, and no slow start (it begins there). Without
    # 429s it is kept exactly; after one it is the most the controller climbs back to.
    cap: float | None = None
    told_margin: float = 0.99  # after a 429 at a rate told, the cap is this fraction of it
    told_backoff: float = 0.97  # ... and the rate steps back to this fraction for a while
    ceiling: float | None = None  # the rate at the last event
    estimate: float | None = None  # the last believable measure of the server's pace
    _changed_at: float | None = None
    _event_at: float | None = None
    _seconds: deque[list[float]] = field(default_factory=deque)  # [second, successes] of 60 s
    _since_change: int = 0  # successes since the rate last changed
    # The most requests in flight at once (None: as many as the client allows). Successes by
    # the number in flight when they were sent (decayed by second) tell a cap on them apart.
    window: int | None = None
    window_wait: float = 45.0  # clean seconds before a number once refused is tried again
    _levels: list[float] = field(default_factory=lambda: [0.0] * 65)
    _window_at: float = -math.inf
    _window_refused: int | None = None
    _suspect: int | None = None  # the number in flight of a 429 that may be a cap's
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

    def _paced(self, now: float, pace: float) -> float:
        """The most of ``pace`` (since the last event, pauses included, the client paused most
        of it) and the same over the last 10, 20 and 30 seconds. A sliding window lets
        through, after a pause, only what left it: the echo of what was sent a window ago (a
        429 three seconds after another, the pace between them a fifth of the limit, once
        dropped a crawl to half its limit for the rest of it). Over a longer stretch no shape
        lets through much less than its limit (a burst or a quota more, if anything: the drop
        is then one plain step)."""
        if not self._seconds:
            return pace
        first = self._seconds[0][0]
        for back in (10.0, 20.0, 30.0):
            start = max(math.floor(now - back), first)
            n, _ = self._measured(now, start)
            if now - start >= self.min_span and n >= self.min_between:
                pace = max(pace, n / (now - start))
        return pace

    def _window_event(self, now: float, in_flight: int) -> bool:
        """Whether a 429 of a request sent with ``in_flight`` answers outstanding (itself
        included) is a cap on requests in flight; if so the window is lowered below it.

        At two in flight one such 429 is only a suspect (a rate limit refuses at any number,
        and two out is the rare number a late arrival meets); a second, with none at a usual
        number between, is the cap. At a number
        a cap refused before, one is enough (the window tried one more and met it again)."""
        if in_flight < 2 or in_flight >= len(self._levels):
            self._suspect = None
            return False
        if self.window is not None and in_flight > self.window:
            return True  # sent before the window was lowered: the same event
        total = sum(self._levels)
        if total < 20 or sum(self._levels[in_flight:]) >= 0.05 * total:
            self._suspect = None
            return False  # the successes reach this number as often: the pace, not the number
        known = self._window_refused is not None and in_flight >= self._window_refused
        if self._suspect is None and not known and in_flight == 2:
            self._suspect = in_flight
            return True  # neither the rate's nor yet the window's
        refused, self._suspect = min(self._suspect or in_flight, in_flight), None
        if self._window_refused == refused:
            self.window_wait = min(self.window_wait * 2, 300.0)
        self._window_refused = refused
        self.window, self._window_at = refused - 1, now
        return True

    def on_rate_limited(self, now: float, sent_at: float | None = None, in_flight: int = 1) -> float | None:
        """A 429 arrived for a request sent at ``sent_at`` with ``in_flight`` requests out (itself
        included): the new rate, or None if the request left before the last decrease (the same
        event as that one) or the 429 was of a cap on requests in flight (see ``window``)."""
        if self._window_event(now, in_flight):
            return None
        if self._event_at is not None:
            if sent_at is not None and sent_at < self._event_at:
                return None
            if sent_at is None and now - self._event_at < 1.0:
                return None  # no send time: 429s within a second of an event are that event
        new = self.rate * self.backoff
        if self.cap is not None:
            # A rate told is about right: a 429 at it says the server counts a little more
            # strictly than the client paces (arrivals bunch up on the way). A little lower
            # for good, and a short step back below that.
            self.cap = max(self.cap * 0.95, min(self.cap, self.rate * self.told_margin))
            new = self.rate * self.told_backoff
        elif self._event_at is not None:
            # Slow start's own history says nothing of the server's pace; since the first 429
            # the server has been pushed to its limit, so what got through is its pace.
            since = max(self._event_at, now - 30.0)
            n, active = self._measured(now, since)
            # (Counted by whole seconds: a second 429 soon after the first, a second or two
            # later, says nothing measurable; the plain step back is all it gets.)
            if n >= self.min_between and now - since >= self.min_span:
                # Over the whole time, pauses included, the pace is a floor (a bucket filled
                # up while the client paused); over the time it was sending, a ceiling (a
                # window's quota or a strict spacing was lost while it paused). Drop to the
                # floor at once, then climb back quickly as far as the ceiling.
                elapsed = max(1e-9, now - math.floor(since))
                pace = n / elapsed
                floor = max(self.rate / 4, min(new, pace * self.margin))
                self.estimate = min(n / max(active, 1e-9) * self.margin, self.rate * self.near)
                paused = elapsed - active > 2.0
                if paused and active < elapsed * self.busy:
                    # Paused for much of the time: the pace while sending was a window's
                    # quota spent at once, not a pace to climb back to.
                    self.estimate = min(self.estimate, floor * self.reach)
                if paused and active < elapsed / 2 and elapsed < 10.0:
                    # Paused most of a short time: the pace with the pause says little more
                    # (see _paced). (Nor is hardly any time sending, a probe refused after
                    # the pause, a reason for a plain step: from far above, a sliding
                    # window's echo then met plain steps five times in ten seconds, a crawl
                    # paused a quarter of its time.)
                    floor = max(self.rate / 4, min(new, self._paced(now, pace) * self.margin))
                new = floor
                if now - self._event_at >= self.settled:
                    # Clean for long at about this rate: the limit is close below it (a
                    # strict spacing that a late arrival broke), not far.
                    new = max(new, self.rate * self.settled_backoff)
        self.ceiling = self.rate
        self.rate = max(self.floor, new)
        self._changed_at = self._event_at = now
        self._since_change = 0
        return self.rate

    def on_success(self, now: float, in_flight: int = 1) -> float | None:
        """A request sent with ``in_flight`` requests out (itself included) went through: the
        new rate once a clean second has passed, else None."""
        second = math.floor(now)
        hist = self._seconds
        levels = self._levels
        if hist and hist[-1][0] == second:
            hist[-1][1] += 1
        else:
            if hist:  # a new second: older counts weigh less (a half-life of about 14 s)
                decay = 0.95 ** min(second - hist[-1][0], 100)
                for i, n in enumerate(levels):
                    if n:
                        levels[i] = n * decay
            hist.append([second, 1])
            while hist[0][0] < second - 60:
                hist.popleft()
        levels[min(in_flight, len(levels) - 1)] += 1
        window = self.window
        if window is not None and in_flight >= window:
            # The window was full: one more, soon below a number refused, rarely at or above it.
            refused = self._window_refused
            wait = self.window_wait if refused is not None and window + 1 >= refused else 1.0
            if now - self._window_at >= wait:
                self.window, self._window_at = window + 1, now
        self._since_change += 1
        if self._changed_at is None:
            self._changed_at = now
            return None
        elapsed = now - self._changed_at
        if elapsed < 1.0:
            return None
        if self._since_change < 0.5 * self.rate * elapsed:
            # Not sent at this rate (the work ran short, or the window held it back): no growth.
            self._changed_at, self._since_change = now, 0
            return None
        factor = min(elapsed, 5.0)
        before = self.rate
        if self.ceiling is None and self.cap is None:
            self.rate *= self.growth**factor
        elif self.estimate is not None and self.rate < self.estimate:
            self.rate = min(self.estimate, self.rate * self.recovery**factor)
        else:
            # Close below the rate of the last 429 slowly, since the 429 will come again
            # there; above it at the probe's pace (a limit raised).
            step = self.probe
            if self.ceiling is not None and self.rate < self.ceiling:
                # Far below it (a drop to what got through, pauses counted) faster.
                step *= (
                    self.careful
                    if self.rate >= 0.95 * self.ceiling
                    else 1.0
                    if self.rate >= 0.9 * self.ceiling
                    else 3.0
                )
            self.rate *= 1.0 + step * factor
        if self.cap is not None:
            self.rate = min(self.rate, self.cap)
        self._changed_at, self._since_change = now, 0
        return self.rate if self.rate != before else None
