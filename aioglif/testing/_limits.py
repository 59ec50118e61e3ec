"""Rate limiters of the shapes real APIs use, for the fake server: pure, the clock passed in.

The Glif API publishes no limit, so a client must survive any shape it might have:

- ``bucket``: a token bucket of ``burst`` tokens refilled at ``rate`` a second (burst 1 is a
  strict spacing of 1/rate; burst = rate lets a second's worth through at once);
- ``fixed``: at most rate × window requests in each fixed window (the count resets at once);
- ``sliding``: at most rate × window requests in any ``window`` seconds (a sliding log);
- ``concurrency``: at most ``rate`` requests being answered at once, whatever their pace.

Each verdict also says how long until the next request would pass and what the
``X-RateLimit-*`` headers would say, so the server can answer in each style real APIs use.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from typing import Literal

__all__ = ["LimitShape", "Limiter", "Verdict", "make_limiter", "rate_limit_headers", "retry_after_header"]

LimitShape = Literal["bucket", "fixed", "sliding", "concurrency"]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    wait: float  # seconds until a request would pass (0 when allowed)
    limit: int  # the quota the headers announce
    remaining: int  # what is left of it after this request
    reset: float  # seconds until the quota is whole again


class Limiter:
    """One client's (one token's) limit. ``admit`` decides; ``release`` ends a request."""

    def admit(self, now: float) -> Verdict:
        raise NotImplementedError

    def release(self) -> None:
        """A request that was admitted has been answered (only a concurrency cap cares)."""


class TokenBucket(Limiter):
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self.tokens = float(self.burst)
        self.stamp: float | None = None

    def admit(self, now: float) -> Verdict:
        if self.stamp is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        wait = 0.0 if allowed else (1.0 - self.tokens) / self.rate
        reset = (self.burst - self.tokens) / self.rate
        return Verdict(allowed, wait, self.burst, int(self.tokens), reset)


class FixedWindow(Limiter):
    def __init__(self, rate: float, window: float) -> None:
        self.window = window
        self.quota = max(1, round(rate * window))
        self.start: float | None = None
        self.count = 0

    def admit(self, now: float) -> Verdict:
        if self.start is None or now >= self.start + self.window:
            # Windows are aligned to the first request, then follow each other back to back.
            first = now if self.start is None else self.start
            self.start = first + math.floor((now - first) / self.window) * self.window
            self.count = 0
        reset = self.start + self.window - now
        allowed = self.count < self.quota
        self.count += allowed
        return Verdict(allowed, 0.0 if allowed else reset, self.quota, self.quota - self.count, reset)


class SlidingWindow(Limiter):
    def __init__(self, rate: float, window: float) -> None:
        self.window = window
        self.quota = max(1, round(rate * window))
        self.log: deque[float] = deque()

    def admit(self, now: float) -> Verdict:
        log = self.log
        while log and log[0] <= now - self.window:
            log.popleft()
        allowed = len(log) < self.quota
        if allowed:
            log.append(now)
        wait = 0.0 if allowed else log[0] + self.window - now
        reset = log[-1] + self.window - now if log else 0.0
        return Verdict(allowed, wait, self.quota, self.quota - len(log), reset)


class ConcurrencyCap(Limiter):
    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.running = 0

    def admit(self, now: float) -> Verdict:
        allowed = self.running < self.cap
        self.running += allowed
        # Nobody knows when a running request ends: the customary "try again in a second".
        return Verdict(allowed, 0.0 if allowed else 1.0, self.cap, self.cap - self.running, 0.0)

    def release(self) -> None:
        self.running -= 1


def make_limiter(shape: LimitShape, rate: float, *, burst: int = 1, window: float = 1.0) -> Limiter:
    if shape == "bucket":
        return TokenBucket(rate, burst)
    if shape == "fixed":
        return FixedWindow(rate, window)
    if shape == "sliding":
        return SlidingWindow(rate, window)
    if shape == "concurrency":
        return ConcurrencyCap(round(rate))
    raise ValueError(f"unknown limiter shape {shape!r}")


def retry_after_header(
    verdict: Verdict, form: Literal["seconds", "date", "none"], wall: float
) -> dict[str, str]:
    """``Retry-After`` as servers send it. An HTTP-date names the moment itself, to the second
    below it, as a server formatting its clock does: often a moment already past on arrival."""
    if form == "none":
        return {}
    if form == "date":
        return {"Retry-After": formatdate(wall + verdict.wait, usegmt=True)}
    return {"Retry-After": str(max(1, math.ceil(verdict.wait)))}


def rate_limit_headers(verdict: Verdict) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(max(0, verdict.remaining)),
        "X-RateLimit-Reset": str(math.ceil(verdict.reset)),
    }
