"""When a request may go, and what its answer teaches: the rate limiter, the client-wide pause
after a 429 and the probe that follows it, the adaptive window of requests in flight, and a
window's quota told by ``X-RateLimit-*`` headers.

The sender asks :meth:`Pacer.turn` before each attempt and tells the pacer what happened; it
knows nothing of how the rate is found.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import anyio
from aiolimiter import AsyncLimiter

from . import _errors as e
from ._config import Settings
from ._protocol import parse_retry_after
from ._quota import Quota
from ._rate import AdaptiveRate

__all__ = ["Pacer"]

# The event loop's clock (asyncio's ``loop.time()`` is ``time.monotonic()``), read without a
# lookup of the async backend: several reads a request.
_now = time.monotonic


class _AdjustableLimiter(AsyncLimiter):
    """aiolimiter's leaky bucket, its rate changed in place.

    Replacing the limiter instead would let the requests queued on the old one go on at the old
    pace beside the new one: two buckets, bursts, 429s. aiolimiter keeps the rate in a private
    ``_rate_per_sec`` set once at construction, so it is set here too (tested by rate="auto").
    """

    def set_rate(self, rate: float) -> None:
        self._leak()  # the time so far drains at the old rate
        self.time_period = 1.0 / rate
        self._rate_per_sec = rate


class Pacer:
    """The pace of one client's requests."""

    def __init__(self, settings: Settings, adaptive: AdaptiveRate | None = None) -> None:
        self._settings = settings
        # With no known limit, ``adaptive`` finds it from the 429s and sets the limiter's rate.
        self.adaptive = adaptive
        self._limiter: AsyncLimiter | None = None
        self._pause_until = 0.0
        # After a pause, one request goes alone and the rest wait for its answer: a 429 that
        # was still meant (its Retry-After too short) costs one more 429, not one per waiter.
        self._probe_next = False
        self._strikes = 0  # 429s in a row, client-wide
        self._probe: anyio.Event | None = None
        # Requests on the wire, and an event for those waiting for one of them to end when the
        # adaptive window (a server's cap on requests in flight) is full.
        self.on_wire = 0
        self._wire_free: anyio.Event | None = None
        # What X-RateLimit-* headers say is left of a window's quota, and the pace that spends
        # it evenly (None: no such headers, or a quota that refills like a bucket).
        self._quota = Quota()
        self._quota_pace: float | None = None

    def open(self) -> None:
        # The limiter belongs to the running event loop: made here, not earlier.
        rate = self.adaptive.rate if self.adaptive is not None else self._settings.rate
        if rate is not None:
            self._set_rate(rate)

    def _set_rate(self, rate: float) -> None:
        # One token per 1/rate seconds: no bursts above the rate, which is what servers count.
        if self._quota_pace is not None:
            rate = min(rate, self._quota_pace)
        if isinstance(self._limiter, _AdjustableLimiter):
            self._limiter.set_rate(rate)
        elif self.adaptive is not None:
            self._limiter = _AdjustableLimiter(1, 1.0 / rate)
        else:
            self._limiter = AsyncLimiter(1, 1.0 / rate)

    @property
    def rate(self) -> float | None:
        """Requests per second the limiter allows now (None: no limiter)."""
        return None if self._limiter is None else 1.0 / self._limiter.time_period

    @property
    def paused_for(self) -> float:
        """Seconds left of the pause a 429 imposed on every request of this client."""
        return max(0.0, self._pause_until - _now())

    def pause(self, seconds: float) -> None:
        now = _now()
        self._pause_until = max(self._pause_until, now + seconds)
        self._probe_next = True
        if self.adaptive is not None:
            self.adaptive.on_pause(now, seconds)

    # --- before sending ----------------------------------------------------------------------

    async def turn(self, method: str, url: str, deadline: float) -> anyio.Event | None:
        """Wait for this request's turn: the client's pause, the rate, the window of requests
        in flight, a spent quota. The probe after a pause gets its event back (give it to
        :meth:`release` when its answer is in)."""
        while True:
            if self._probe is None and not self._probe_next and self._pause_until <= _now():
                probe = None
            else:
                probe = await self._wait_for_pause(method, url, deadline)
            try:
                if self._limiter is not None:
                    await self._limiter.acquire()
                adaptive = self.adaptive
                if adaptive is not None and adaptive.window is not None:
                    while self.on_wire >= adaptive.window:
                        if self._wire_free is None:
                            self._wire_free = anyio.Event()
                        await self._wire_free.wait()
                if self._quota.seen and (left := self._quota.wait(_now())) > 0:
                    # The quota is spent until its reset (a later answer can only say so
                    # again: a new window's first answer comes after this sleep).
                    await anyio.sleep(left)
            except BaseException:
                self.release(probe)
                raise
            if probe is not None or (
                self._probe is None and not self._probe_next and self._pause_until <= _now()
            ):
                return probe
            # A 429 paused the client while this request waited for the rate: sent now, it
            # would meet the same limit (one 429, one more event, for every request queued).

    async def _wait_for_pause(self, method: str, url: str, deadline: float) -> anyio.Event | None:
        """Wait out the client's pause; the first request after one is its probe (returned)."""
        while True:
            left = self._pause_until - _now()
            if left > 0:
                if self._pause_until > deadline:
                    raise e.RateLimitedError(
                        f"rate limited: the client is paused for {left:.1f}s more, past this"
                        " request's retry budget",
                        retry_after=left,
                        method=method,
                        url=url,
                    )
                await anyio.sleep(left)
            elif self._probe is not None:
                await self._probe.wait()
            elif self._probe_next:
                self._probe_next = False
                self._probe = anyio.Event()
                return self._probe
            else:
                return None

    def sending(self, now: float) -> int:
        """A request goes on the wire now; returns how many are on it, this one included."""
        if self._quota.seen:
            self._quota.on_send(now)
        self.on_wire += 1
        return self.on_wire

    def sent(self) -> None:
        """A request left the wire (answered or not)."""
        self.on_wire -= 1
        if self._wire_free is not None:
            self._wire_free.set()
            self._wire_free = None

    # --- after the answer --------------------------------------------------------------------

    def answered(self, status: int, headers: Mapping[str, str], probe: anyio.Event | None) -> None:
        """An answer's headers, before the waiters are let go (so that a 429 makes them wait
        again)."""
        if self.adaptive is not None:
            pace = self._quota.observe(headers, _now(), time.time(), self.on_wire)
            if pace != self._quota_pace:
                self._quota_pace = pace
                self._set_rate(self.adaptive.rate)
        if status == 429:
            self.refused(probe, parse_retry_after(headers.get("Retry-After")))
        else:
            self._strikes = 0  # (a 200 that says "rate limited" sets it again)

    def refused(self, probe: anyio.Event | None, retry_after: float | None) -> None:
        """A 429, or a 200 that says "rate limited" (the Simple API's way). Each probe that
        meets one again pauses one backoff step longer; the 429s of requests sent together
        before the pause count as one."""
        self._strikes = self._strikes + 1 if probe is not None else max(self._strikes, 1)
        self.pause(self._settings.retry.pause(self._strikes, retry_after))

    def release(self, probe: anyio.Event | None) -> None:
        if probe is not None:
            self._probe = None
            probe.set()

    def adapt(self, status: int, sent: float, probe: bool, in_flight: int) -> None:
        # A probe's 429 says the pause was too short, not that the pace is too fast.
        if self.adaptive is not None and (status != 429 or not probe):
            now = _now()
            if status == 429:
                changed = self.adaptive.on_rate_limited(now, sent, in_flight)
            else:
                changed = self.adaptive.on_success(now, in_flight)
            if changed is not None:
                self._set_rate(changed)
