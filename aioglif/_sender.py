"""The polite sender: the rate limiter, the in-flight cap, the shared 429 pause and the retries.

It sends through a :class:`~aioglif._wire.Wire` and knows nothing of aiohttp, so a test plugs an
in-memory wire in its place. Everything it raises is a :class:`GlifError`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import anyio
from aiolimiter import AsyncLimiter
from yarl import URL

from . import _errors as e
from ._config import Settings, Timeouts, origin
from ._protocol import (
    REDIRECT_STATUSES,
    decode,
    parse_retry_after,
    should_retry,
    status_error,
)
from ._quota import Quota
from ._rate import AdaptiveRate
from ._raw import CAPTURE
from ._redact import redact_body, redacted_headers
from ._retry import RetryPolicy, Safety
from ._wiretypes import Request, Response, Wire
from .models import ENCODER

__all__ = ["Sender", "Stats"]

T = TypeVar("T")
log = logging.getLogger("aioglif")
# The event loop's clock (asyncio's ``loop.time()`` is ``time.monotonic()``), read without a
# lookup of the async backend: several reads a request.
_now = time.monotonic


@dataclass
class Stats:
    """Counters of one client (or one listing); read them for progress displays."""

    requests: int = 0  # HTTP requests sent, retries and redirect hops included
    retries: int = 0
    rate_limited: int = 0  # 429 answers received
    errors: int = 0  # attempts that failed: transport, non-2xx, undecodable
    redirects: int = 0
    bytes_received: int = 0
    limiter_seconds: float = 0.0  # waiting for the rate limiter (and a 429's pause)
    network_seconds: float = 0.0  # from sending a request to having its whole body

    def snapshot(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


HeaderHook = Callable[[Mapping[str, str]], None]


def _bump(sinks: tuple[Stats, ...], name: str, n: float = 1) -> None:
    for sink in sinks:
        setattr(sink, name, getattr(sink, name) + n)


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


class Sender:
    """Sends requests for a client: politely (limiter, cap, shared 429 pause) and with retries."""

    def __init__(self, settings: Settings, wire: Wire, adaptive: AdaptiveRate | None = None) -> None:
        self._settings = settings
        self.wire = wire
        # With no known limit, ``adaptive`` finds it from the 429s and sets the limiter's rate.
        self.adaptive = adaptive
        self._limiter: AsyncLimiter | None = None
        self._slots: anyio.Semaphore | None = None
        self._pause_until = 0.0
        # After a pause, one request goes alone and the rest wait for its answer: a 429 that
        # was still meant (its Retry-After too short) costs one more 429, not one per waiter.
        self._probe_next = False
        self._strikes = 0  # 429s in a row, client-wide
        self._header_cache: dict[tuple[str, bool], dict[str, str]] = {}
        self._probe: anyio.Event | None = None
        # Requests on the wire, and an event for those waiting for one of them to end when the
        # adaptive window (a server's cap on requests in flight) is full.
        self._on_wire = 0
        self._wire_free: anyio.Event | None = None
        # What X-RateLimit-* headers say is left of a window's quota, and the pace that spends
        # it evenly (None: no such headers, or a quota that refills like a bucket).
        self._quota = Quota()
        self._quota_pace: float | None = None
        self._rng = random.Random()
        self.stats = Stats()

    async def open(self) -> None:
        # Limiter and semaphore belong to the running event loop: made here, not earlier.
        s = self._settings
        rate = self.adaptive.rate if self.adaptive is not None else s.rate
        if rate is not None:
            self._set_rate(rate)
        self._slots = anyio.Semaphore(s.max_in_flight)
        await self.wire.open()

    async def close(self) -> None:
        await self.wire.close()

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

    async def request(
        self,
        method: str,
        url: str,
        *,
        decoder: Callable[[bytes], T],
        safety: Safety,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        run_timeouts: bool = False,
        stats: Stats | None = None,
        on_headers: HeaderHook | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
    ) -> T:
        """Send, retrying what ``safety`` allows within the retry policy, and decode the body.

        ``run_timeouts`` takes the Simple API's longer timeouts instead of the read ones.
        ``stats`` is counted into besides the client's own (a listing's counters);
        ``on_headers`` sees the headers of the answer that is returned. ``timeouts`` and
        ``retry`` replace the client's for this request (a ``with_options`` view's); the 429
        pause stays the client's.
        """
        policy = retry or self._settings.retry
        sinks = (self.stats,) if stats is None else (self.stats, stats)
        start = _now()
        deadline = start + policy.max_elapsed
        for attempt in range(1, policy.attempts + 1):
            try:
                return await self._attempt(
                    method, url, params, json, decoder, run_timeouts, deadline, sinks, on_headers, timeouts
                )
            except e.GlifError as err:
                _bump(sinks, "errors")
                retry_after = err.retry_after if isinstance(err, e.APIStatusError) else None
                if not should_retry(err, safety):
                    raise
                wait = policy.delay(attempt, retry_after=retry_after, rng=self._rng)
                if not policy.allows(attempt, _now() - start, wait):
                    raise
                _bump(sinks, "retries")
                log.info(
                    "retrying %s %s in %.2fs after %s (attempt %d of %d)",
                    method,
                    url,
                    wait,
                    type(err).__name__,
                    attempt + 1,
                    policy.attempts,
                )
                if not isinstance(err, e.RateLimitedError):
                    await anyio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        payload: Any,
        decoder: Callable[[bytes], T],
        run_timeouts: bool,
        deadline: float,
        sinks: tuple[Stats, ...],
        on_headers: HeaderHook | None,
        timeouts: Timeouts | None,
    ) -> T:
        if self._slots is None:
            raise RuntimeError("the client is not open: use 'async with GlifClient(...) as client'")
        slots = self._slots
        try:
            slots.acquire_nowait()  # no checkpoint (an event loop turn) when a slot is free
        except anyio.WouldBlock:
            await slots.acquire()
        try:
            waited = _now()
            probe = await self._turn(method, url, deadline)
            try:
                sent = _now()
                if self._quota.seen:
                    self._quota.on_send(sent)
                self._on_wire += 1
                level = self._on_wire
                try:
                    resp = await self._send(method, url, params, payload, run_timeouts, sinks, timeouts)
                finally:
                    self._on_wire -= 1
                    if self._wire_free is not None:
                        self._wire_free.set()
                        self._wire_free = None
                    now = _now()
                    for sink in sinks:
                        sink.limiter_seconds += sent - waited
                        sink.network_seconds += now - sent
                if self.adaptive is not None:
                    self._observe_quota(resp)
                if resp.status == 429:
                    # Pause before the waiters are let go, so that they wait again. Each probe
                    # that meets a 429 again pauses one backoff step longer; the 429s of
                    # requests sent together before the pause count as one.
                    self._strikes = self._strikes + 1 if probe is not None else max(self._strikes, 1)
                    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                    self.pause(self._settings.retry.pause(self._strikes, retry_after))
            finally:
                if probe is not None:
                    self._probe = None
                    probe.set()
        finally:
            slots.release()
        status = resp.status
        # Whatever the server says goes through redaction before anything reads it: a server (or
        # a proxy) that echoes the Authorization header cannot put the token in an exception,
        # a run's result or a file.
        body = redact_body(resp.body, self._secret)
        if status != 429:
            self._strikes = 0  # (a 200 that says "rate limited" sets it again below)
        if 200 <= status < 300:
            try:
                result = decode(decoder, body, method=method, url=resp.url)
            except e.RateLimitedError:
                # A 200 whose body says "rate limited" (the Simple API's way): a 429 by another name.
                self._strikes = self._strikes + 1 if probe is not None else max(self._strikes, 1)
                self.pause(self._settings.retry.pause(self._strikes, None))
                self._adapt(429, sent, probe is not None, level)
                _bump(sinks, "rate_limited")
                raise
            self._adapt(status, sent, probe is not None, level)
            if on_headers is not None:
                on_headers(resp.headers)
            capture = CAPTURE.get()
            if capture is not None:  # inside GlifClient.raw()
                headers = redacted_headers(resp.headers, self._secret)
                capture.append(Response(status, headers, body, resp.url))
            return result
        self._adapt(status, sent, probe is not None, level)
        if status == 429:
            _bump(sinks, "rate_limited")
        raise status_error(
            status,
            body,
            method=method,
            url=resp.url,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            secret=self._secret,
            headers=resp.headers,
        )

    def _observe_quota(self, resp: Response) -> None:
        pace = self._quota.observe(resp.headers, _now(), time.time(), self._on_wire)
        if pace != self._quota_pace:
            self._quota_pace = pace
            if self.adaptive is not None:
                self._set_rate(self.adaptive.rate)

    def _adapt(self, status: int, sent: float, probe: bool, in_flight: int) -> None:
        # A probe's 429 says the pause was too short, not that the pace is too fast.
        if self.adaptive is not None and (status != 429 or not probe):
            now = _now()
            if status == 429:
                changed = self.adaptive.on_rate_limited(now, sent, in_flight)
            else:
                changed = self.adaptive.on_success(now, in_flight)
            if changed is not None:
                self._set_rate(changed)

    async def _turn(self, method: str, url: str, deadline: float) -> anyio.Event | None:
        """Wait for this request's turn: the client's pause, the rate, the window of requests
        in flight, a spent quota. The probe after a pause gets its event back (set it when its
        answer is in)."""
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
                    while self._on_wire >= adaptive.window:
                        if self._wire_free is None:
                            self._wire_free = anyio.Event()
                        await self._wire_free.wait()
                if self._quota.seen and (left := self._quota.wait(_now())) > 0:
                    # The quota is spent until its reset (a later answer can only say so
                    # again: a new window's first answer comes after this sleep).
                    await anyio.sleep(left)
            except BaseException:
                if probe is not None:
                    self._probe = None
                    probe.set()
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

    @property
    def _secret(self) -> str | None:
        token = self._settings.token
        return token.reveal() if token is not None else None

    def _headers(self, url: str, has_body: bool) -> dict[str, str]:
        cached = self._header_cache.get((url, has_body))
        if cached is not None:
            return cached
        s = self._settings
        headers = {"User-Agent": s.user_agent}
        for name, value in s.default_headers.items():
            if name.lower() == "user-agent":
                del headers["User-Agent"]
            headers[name] = value
        if has_body:
            headers["Content-Type"] = "application/json"
        secret = self._secret
        # The token goes only to the configured hosts, also after a redirect.
        if secret is not None and origin(url) in self._settings.token_origins:
            headers["Authorization"] = f"Bearer {secret}"
        if len(self._header_cache) < 64:  # the API's few paths, not every redirect's target
            self._header_cache[(url, has_body)] = headers
        return headers

    async def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        payload: Any,
        run_timeouts: bool,
        sinks: tuple[Stats, ...],
        timeouts: Timeouts | None = None,
    ) -> Response:
        t = timeouts or self._settings.timeouts
        # The session's read timeout is the client's: a view's own goes with each request.
        read = t.run_read if run_timeouts else (t.read if timeouts is not None else None)
        target = url
        for _hop in range(self._settings.max_redirects + 1):
            data = ENCODER.encode(payload) if payload is not None else None
            request = Request(
                method,
                target,
                params=params,
                headers=self._headers(target, data is not None),
                content=data,
                read_timeout=read,
                total_timeout=t.run_total if run_timeouts else t.total,
                max_body=self._settings.max_body,
            )
            for sink in sinks:
                sink.requests += 1
            resp = await self.wire.send(request)
            if resp.status not in REDIRECT_STATUSES or (location := resp.headers.get("Location")) is None:
                for sink in sinks:
                    sink.bytes_received += len(resp.body)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s %s -> %d (%d bytes)", method, resp.url, resp.status, len(resp.body))
                return resp
            current = URL(resp.url)
            joined = current.join(URL(location))
            if joined.scheme not in ("http", "https"):
                raise e.TooManyRedirects(
                    f"refusing a redirect to {joined.scheme!r} URL", method=method, url=str(current)
                )
            target = str(joined)
            params = None  # the Location carries its own query
            if resp.status == 303 or (resp.status in (301, 302) and method != "GET"):
                method, payload = "GET", None
            _bump(sinks, "redirects")
        raise e.TooManyRedirects(
            f"more than {self._settings.max_redirects} redirects", method=method, url=str(target)
        )
