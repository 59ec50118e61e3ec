"""The wire: send one request, return its status, headers and body. The only aiohttp code.

Everything polite (the rate limiter, the in-flight cap, the 429 pause, retries, redirects, the
token) lives above it in :mod:`aioglif._sender`, which knows the wire only by :class:`Wire`.
A test or a user plugs any other object with these three methods in its place.

What a wire raises is a :class:`~aioglif.TransportError` (or a subclass): no aiohttp exception
escapes, and the request's ``Authorization`` value never appears in a message. A wire honours
the request's caps: past ``total_timeout`` it raises :class:`~aioglif.TimeoutError`, past
``max_body`` bytes it stops reading and raises :class:`~aioglif.ResponseTooLarge`. The total
deadline and the read timeout of every request in flight are kept by one watchdog per wire
(:mod:`aioglif._deadlines`) instead of aiohttp's timers per request, which cost more; aiohttp
times only the connecting.

``max_body`` bounds one answer; the wire bounds them together. An answer is read freely up to
``large_body`` bytes (every real page is smaller); past that, reading goes on only while holding
the wire's one turn for large answers, so that they are read one at a time. A request waiting
for the turn holds at most ``large_body`` bytes and its holder waits for nothing else (no
deadlock): whatever the concurrency, the bodies being read hold about
``in flight × large_body + max_body`` bytes.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Mapping
from typing import Final

import aiohttp
import anyio
from yarl import URL

from . import _errors as e
from ._config import DEFAULT_LARGE_BODY
from ._deadlines import TOTAL, Watch, Watchdog

# The types of the seam live where no aiohttp is imported (the sender uses them only).
from ._wiretypes import Request, Response, Wire, scrub, secrets_of, too_large, total_timeout

__all__ = ["AiohttpWire", "Request", "Response", "Wire", "too_large", "total_timeout"]

_CHUNK: Final = 256 * 1024
# Keys and values that need no quoting in a query: unreserved characters only (RFC 3986), so
# no ``=`` or ``&`` that would be read as the query's own structure.
_PLAIN_WORDS: Final = re.compile(r"[A-Za-z0-9._~-]*").fullmatch


class AiohttpWire:
    """The wire over one aiohttp session (made on :meth:`open`, or the caller's own)."""

    def __init__(
        self,
        *,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 60.0,
        pool: int = 16,
        user_agent: str = "aioglif",
        session: aiohttp.ClientSession | None = None,
        large_body: int = DEFAULT_LARGE_BODY,
    ) -> None:
        if isinstance(large_body, bool) or not isinstance(large_body, int) or large_body < 1:
            raise ValueError(f"large_body must be a positive number of bytes, got {large_body!r}")
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            # "not value > 0" refuses NaN too, which no deadline comparison would ever meet.
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds or None, got {value!r}")
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ValueError(f"pool must be a positive number of connections, got {pool!r}")
        self._large = large_body
        # The one turn to read an answer past ``large_body``; made on open, in the running loop.
        self._turn: anyio.Lock | None = None
        self._read = read_timeout
        self._pool = pool
        self._user_agent = user_agent
        self._session = session
        # The caller's own session: taken again on every open, never closed by the wire.
        self._callers = session
        self._owns_session = session is None
        self._connect_only = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout, sock_read=None
        )
        self._watchdog: Watchdog | None = None
        self._connect_timeout = connect_timeout
        self._caller_timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        # Each path's URL parsed once (the API has a few): see _target.
        self._bases: dict[str, URL | None] = {}

    async def open(self) -> None:
        self._turn = anyio.Lock()
        self._watchdog = Watchdog(asyncio.get_running_loop())
        if self._session is None:
            self._session = self._callers
        # A session belongs to the running event loop: made here, not earlier.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._connect_only,
                # As many pooled connections as requests may be in flight: nobody waits for the pool.
                connector=aiohttp.TCPConnector(limit=self._pool, limit_per_host=0),
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
                # The API authenticates by token, never by cookie: no jar to fill and filter on
                # every request.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def send(self, request: Request) -> Response:
        if self._session is None:
            raise RuntimeError("the client is not open: use 'async with GlifClient(...) as client'")
        watchdog = self._watchdog
        if watchdog is None:  # a caller's session, sent through without open()
            watchdog = self._watchdog = Watchdog(asyncio.get_running_loop())
        read = self._read if request.read_timeout is None else request.read_timeout
        # The whole attempt under the watchdog, from sending to the last byte of the body: its
        # total deadline, and no silence longer than the read timeout (see _deadlines). On a
        # caller's session the read timeout stays aiohttp's: its pool may be smaller than the
        # requests in flight, and waiting for a connection is not the server's silence (aiohttp's
        # timer starts once a connection is had; the watchdog cannot see that moment).
        watch = watchdog.add(request.total_timeout, read if self._owns_session else None)
        try:
            resp = await self._exchange(request, watch, read)
        except (asyncio.CancelledError, e.TransportError):
            # A TransportError too: aiohttp may meet the cancellation and say something else.
            if watch.owns():
                raise self._expired(request, watch) from None
            if watch.expired is not None and watch.scope_due():
                # The scope's own cancellation comes on the next turns of the loop (raised from
                # here): the one in hand is the watchdog's, which the scope would not know.
                for _ in range(3):
                    await asyncio.sleep(0)
            raise
        finally:
            watchdog.discard(watch)
        if watch.expired is not None:  # its cancellation was swallowed on the way: withdrawn
            watch.owns()
        return resp

    def _expired(self, request: Request, watch: Watch) -> e.TimeoutError:
        if watch.expired == TOTAL:
            return total_timeout(request)
        return e.TimeoutError(
            f"no byte for {self._read if request.read_timeout is None else request.read_timeout:g}s:"
            " the read timeout",
            method=request.method,
            url=request.url,
        )

    def _caller_timeout(self, read: float | None) -> aiohttp.ClientTimeout:
        timeout = self._caller_timeouts.get(read)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=self._connect_timeout, sock_read=read
            )
            # The client's few timeouts, not every one a caller computes (the time a call has left).
            if len(self._caller_timeouts) < 64:
                self._caller_timeouts[read] = timeout
        return timeout

    def _target(self, url: str, params: Mapping[str, str]) -> tuple[URL | str, str | None]:
        """The URL to ask, and its string when known without asking yarl to print it.

        The API's queries are plain words and numbers (ids, page, limit): those are joined as
        they are onto the path's URL, parsed once (yarl would parse, quote and print every
        one, about a third of aiohttp's own work on a small page). Anything else is yarl's.
        """
        base = self._bases.get(url)
        if base is None and url not in self._bases:
            if len(self._bases) >= 64:
                return url, None
            parsed = URL(url)
            # Only a URL that prints as itself with a query added is joined onto: one with a path
            # ("http://h" is asked, and reported, as "http://h/"), no query and no fragment. User
            # info is sent as Basic auth and left out of the URL aiohttp reports: yarl's.
            plain_url = "@" not in parsed.raw_authority and str(parsed.with_query("k=v")) == f"{url}?k=v"
            base = self._bases[url] = parsed if plain_url else None
        if base is None:
            return url, None
        try:
            plain = (
                _PLAIN_WORDS("".join(params.values())) is not None
                and _PLAIN_WORDS("".join(params)) is not None
            )
        except (TypeError, AttributeError):  # not str values, or not a mapping: aiohttp's to send
            plain = False
        if not plain:
            return base, None
        query = "&".join(map("=".join, params.items()))
        return base.with_query(query), f"{url}?{query}"

    async def _exchange(self, request: Request, watch: Watch, read: float | None) -> Response:
        assert self._session is not None
        params = request.params
        url: URL | str = request.url
        asked: str | None = request.url
        if params:
            url, asked = self._target(request.url, params)
            if asked is not None:
                params = None
        try:
            resp = await self._session.request(
                request.method,
                url,
                params=params,
                data=request.content,
                headers=request.headers,
                allow_redirects=False,
                # aiohttp's only timer left: connecting (see _deadlines for the others); and
                # the read timeout on a caller's session (see send).
                timeout=self._connect_only if self._owns_session else self._caller_timeout(read),
            )
            # Released by hand, not by ``async with``: two context managers less per request.
            # A body not read to its end closes the connection (aiohttp's release sees it).
            try:
                watch.stream = resp.content
                body = await self._body(resp, request, watch)
            finally:
                resp.release()
            # No redirect is followed here: the answer came from the URL asked, so no new string
            # is made unless a query was added to it.
            return Response(resp.status, resp.headers, body, asked if asked is not None else str(resp.url))
        except aiohttp.ConnectionTimeoutError as exc:
            raise _wrap(e.TimeoutError, exc, request, request_sent=False) from exc
        except aiohttp.ServerTimeoutError as exc:
            raise _wrap(e.TimeoutError, exc, request) from exc
        except asyncio.TimeoutError as exc:
            raise _wrap(e.TimeoutError, exc, request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise _wrap(e.ConnectError, exc, request) from exc
        except aiohttp.ClientError as exc:
            raise _wrap(e.TransportError, exc, request) from exc

    async def _body(self, resp: aiohttp.ClientResponse, request: Request, watch: Watch) -> bytes:
        """The body, read a chunk at a time so that it never holds more than ``max_body``, and
        past ``large_body`` only while it holds the turn.

        The chunks are decompressed ones: a small gzip that inflates to gigabytes stops at the cap.
        """
        limit = request.max_body
        if limit is None:
            return await resp.read()
        large = min(self._large, limit)
        declared = resp.content_length
        if declared is not None and "Content-Encoding" not in resp.headers:
            if declared > limit:
                raise too_large(request, limit)
            if declared <= large:
                return await resp.read()  # no more than it declared: read at once
            async with self._take_turn(watch):
                return await _read_on(resp, request, [], 0)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            chunks.append(chunk)
            if size > large:
                break
        else:
            return b"".join(chunks)
        if size > limit:
            chunks.clear()
            raise too_large(request, limit)
        async with self._take_turn(watch):
            return await _read_on(resp, request, chunks, size)

    def _take_turn(self, watch: Watch) -> _Turn:
        if self._turn is None:  # a caller's session, sent through without open()
            self._turn = anyio.Lock()
        assert self._watchdog is not None
        return _Turn(self._turn, self._watchdog, watch)


class _Turn:
    """The wire's turn for a large answer. Waiting for it counts in the attempt's total
    deadline (the watchdog keeps watching), not as the server's silence."""

    __slots__ = ("_lock", "_watch", "_watchdog")

    def __init__(self, lock: anyio.Lock, watchdog: Watchdog, watch: Watch) -> None:
        self._lock = lock
        self._watchdog = watchdog
        self._watch = watch

    async def __aenter__(self) -> None:
        read = self._watchdog.pause(self._watch)
        try:
            await self._lock.acquire()
        finally:
            self._watchdog.resume(self._watch, read)

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()


async def _read_on(resp: aiohttp.ClientResponse, request: Request, head: list[bytes], size: int) -> bytes:
    """The rest of a large body after ``head`` (``size`` bytes), up to ``max_body``.

    Written to one buffer whose bytes become the result without a copy (``BytesIO.getvalue``
    hands over its buffer), where joining chunks would hold the body twice.
    """
    limit = request.max_body
    assert limit is not None
    buffer = io.BytesIO()
    for chunk in head:
        buffer.write(chunk)
    head.clear()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            # The exception's traceback keeps this frame alive, often in a reference cycle that
            # only a full collection frees: without this, each refusal would pin max_body bytes.
            buffer.close()
            raise too_large(request, limit)
        buffer.write(chunk)
    return buffer.getvalue()


def _wrap(
    cls: type[e.TransportError], exc: BaseException, request: Request, **kwargs: bool
) -> e.TransportError:
    detail = scrub(str(exc) or type(exc).__name__, secrets_of(request))
    message = f"{type(exc).__name__}: {detail}"
    if cls is e.ConnectError:
        return e.ConnectError(message, method=request.method, url=request.url)
    return cls(message, method=request.method, url=request.url, **kwargs)
