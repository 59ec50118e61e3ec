"""The polite sender: the in-flight cap, the retries, the redirects, the token, the counters;
when each attempt may go is the :class:`~aioglif._pacer.Pacer`'s (the rate, the 429 pause).

It sends through a :class:`~aioglif._wire.Wire` and knows nothing of aiohttp, so a test plugs an
in-memory wire in its place. Everything it raises is a :class:`GlifError`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
from yarl import URL

from . import _errors as e
from ._config import Settings, Timeouts, origin
from ._pacer import Pacer
from ._protocol import REDIRECT_STATUSES, decode, parse_retry_after, should_retry, status_error
from ._rate import AdaptiveRate
from ._raw import CAPTURE
from ._redact import redact, redact_body, redacted_headers
from ._retry import RetryPolicy, Safety
from ._stats import Stats, bump
from ._wiretypes import Request, Response, Wire
from .models import ENCODER

__all__ = ["Sender"]

T = TypeVar("T")
log = logging.getLogger("aioglif")
# The event loop's clock (asyncio's ``loop.time()`` is ``time.monotonic()``), read without a
# lookup of the async backend: several reads a request.
_now = time.monotonic


HeaderHook = Callable[[Mapping[str, str]], None]


class Sender:
    """Sends requests for a client: politely (limiter, cap, shared 429 pause) and with retries."""

    def __init__(self, settings: Settings, wire: Wire, adaptive: AdaptiveRate | None = None) -> None:
        self._settings = settings
        self.wire = wire
        self.pacer = Pacer(settings, adaptive)
        self._slots: anyio.Semaphore | None = None
        self._header_cache: dict[tuple[str, bool], dict[str, str]] = {}
        self._rng = random.Random()
        self.stats = Stats()
        self._closed = False

    async def open(self) -> None:
        # The semaphore belongs to the running event loop: made here, not earlier.
        self.pacer.open()
        self._slots = anyio.Semaphore(self._settings.max_in_flight)
        await self.wire.open()

    async def close(self) -> None:
        self._closed = True
        await self.wire.close()

    @property
    def adaptive(self) -> AdaptiveRate | None:
        return self.pacer.adaptive

    @property
    def rate(self) -> float | None:
        """Requests per second the limiter allows now (None: no limiter)."""
        return self.pacer.rate

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
                bump(sinks, "errors")
                if self._closed:
                    # Closing the client broke this request's connection: that is what happened,
                    # and nothing is to be retried on a closed client.
                    raise e.ClientClosedError("the client was closed while the request ran") from err
                retry_after = err.retry_after if isinstance(err, e.APIStatusError) else None
                if not should_retry(err, safety):
                    raise
                wait = policy.delay(attempt, retry_after=retry_after, rng=self._rng)
                if not policy.allows(attempt, _now() - start, wait):
                    raise
                bump(sinks, "retries")
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
        if self._closed:
            raise e.ClientClosedError("the client is closed")
        if self._slots is None:
            raise RuntimeError("the client is not open: use 'async with GlifClient(...) as client'")
        slots = self._slots
        pacer = self.pacer
        try:
            slots.acquire_nowait()  # no checkpoint (an event loop turn) when a slot is free
        except anyio.WouldBlock:
            await slots.acquire()
        try:
            waited = _now()
            probe = await pacer.turn(method, url, deadline)
            try:
                sent = _now()
                level = pacer.sending(sent)
                try:
                    resp = await self._send(method, url, params, payload, run_timeouts, sinks, timeouts)
                finally:
                    pacer.sent()
                    now = _now()
                    for sink in sinks:
                        sink.limiter_seconds += sent - waited
                        sink.network_seconds += now - sent
                pacer.answered(resp.status, resp.headers, probe)
            finally:
                pacer.release(probe)
        finally:
            slots.release()
        status = resp.status
        # Whatever the server says goes through redaction before anything reads it: a server (or
        # a proxy) that echoes the Authorization header cannot put the token in an exception,
        # a run's result or a file.
        body = redact_body(resp.body, self._secret)
        if 200 <= status < 300:
            try:
                result = decode(decoder, body, method=method, url=resp.url)
            except e.RateLimitedError:
                # A 200 whose body says "rate limited" (the Simple API's way): a 429 by another name.
                pacer.refused(probe, None)
                pacer.adapt(429, sent, probe is not None, level)
                bump(sinks, "rate_limited")
                raise
            pacer.adapt(status, sent, probe is not None, level)
            if on_headers is not None:
                on_headers(resp.headers)
            capture = CAPTURE.get()
            if capture is not None:  # inside GlifClient.raw()
                headers = redacted_headers(resp.headers, self._secret)
                capture.append(Response(status, headers, body, resp.url))
            return result
        pacer.adapt(status, sent, probe is not None, level)
        if status == 429:
            bump(sinks, "rate_limited")
        raise status_error(
            status,
            body,
            method=method,
            url=resp.url,
            retry_after=parse_retry_after(resp.headers.get("Retry-After")),
            secret=self._secret,
            headers=resp.headers,
        )

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
        total = t.run_total if run_timeouts else t.total
        started = _now()
        target = url
        for hop in range(self._settings.max_redirects + 1):
            data = ENCODER.encode(payload) if payload is not None else None
            left = total
            if hop and total is not None:
                # The hops of one attempt share its total: a chain of redirects, each answered
                # just in time, must not take (max_redirects + 1) totals.
                left = total - (_now() - started)
                if left <= 0:
                    raise _after_redirects(method, target, total, hop)
            request = Request(
                method,
                target,
                params=params,
                headers=self._headers(target, data is not None),
                content=data,
                read_timeout=read,
                total_timeout=left,
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
            secret = self._secret
            if secret is not None and redact(target, secret) != target:
                # Sent there, the token would be in the URL: in a foreign host's logs, in
                # ours, in every error about that request. No server of ours asks for that.
                raise e.TooManyRedirects(
                    f"refusing a redirect to a URL that holds the token: {redact(target, secret)}",
                    method=method,
                    url=str(current),
                )
            params = None  # the Location carries its own query
            if resp.status == 303 or (resp.status in (301, 302) and method != "GET"):
                method, payload = "GET", None
            bump(sinks, "redirects")
        raise e.TooManyRedirects(
            f"more than {self._settings.max_redirects} redirects", method=method, url=str(target)
        )


def _after_redirects(method: str, url: str, total: float, hops: int) -> e.TimeoutError:
    return e.TimeoutError(
        f"no whole answer within the total timeout of {total:g}s"
        f" (after {hops} redirect{'s' if hops > 1 else ''})",
        method=method,
        url=url,
    )
