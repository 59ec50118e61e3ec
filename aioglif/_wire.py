"""The wire: send one request, return its status, headers and body. The only aiohttp code.

Everything polite (the rate limiter, the in-flight cap, the 429 pause, retries, redirects, the
token) lives above it in :mod:`aioglif._sender`, which knows the wire only by :class:`Wire`.
A test or a user plugs any other object with these three methods in its place.

What a wire raises is a :class:`~aioglif.TransportError` (or a subclass): no aiohttp exception
escapes, and the request's ``Authorization`` value never appears in a message. A wire honours
the request's caps: past ``total_timeout`` it raises :class:`~aioglif.TimeoutError`, past
``max_body`` bytes it stops reading and raises :class:`~aioglif.ResponseTooLarge`.

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
import time
from typing import Final

import aiohttp
import anyio

from . import _errors as e
from ._config import DEFAULT_LARGE_BODY

# The types of the seam live where no aiohttp is imported (the sender uses them only).
from ._wiretypes import Request, Response, Wire, scrub, secrets_of, too_large, total_timeout

__all__ = ["AiohttpWire", "Request", "Response", "Wire", "too_large", "total_timeout"]

_CHUNK: Final = 256 * 1024


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
        self._large = large_body
        # The one turn to read an answer past ``large_body``; made on open, in the running loop.
        self._turn: anyio.Lock | None = None
        self._connect = connect_timeout
        self._read = read_timeout
        self._pool = pool
        self._user_agent = user_agent
        self._session = session
        self._owns_session = session is None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    async def open(self) -> None:
        self._turn = anyio.Lock()
        # A session belongs to the running event loop: made here, not earlier.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout(self._read, None),
                # As many pooled connections as requests may be in flight: nobody waits for the pool.
                connector=aiohttp.TCPConnector(limit=self._pool, limit_per_host=0),
                headers={"User-Agent": self._user_agent, "Accept": "application/json"},
                # The API authenticates by token, never by cookie: no jar to fill and filter on
                # every request.
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _timeout(self, read: float | None, total: float | None) -> aiohttp.ClientTimeout:
        # Made once per pair: requests share a handful of them.
        timeout = self._timeouts.get((read, total))
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=total, connect=None, sock_connect=self._connect, sock_read=read
            )
            self._timeouts[(read, total)] = timeout
        return timeout

    async def send(self, request: Request) -> Response:
        if self._session is None:
            raise RuntimeError("the client is not open: use 'async with GlifClient(...) as client'")
        read = self._read if request.read_timeout is None else request.read_timeout
        params = request.params
        started = time.monotonic()
        try:
            # The whole attempt under one deadline, aiohttp's own ``total``: from sending to the
            # last byte of the body (the body's reads run under the same timer); ``sock_read``
            # is between bytes.
            async with self._session.request(
                request.method,
                request.url,
                params=params,
                data=request.content,
                headers=request.headers,
                allow_redirects=False,
                timeout=self._timeout(read, request.total_timeout),
            ) as resp:
                body = await self._body(resp, request, started)
                # No redirect is followed here: the answer came from the URL asked, so no new
                # string is made unless a query was added to it.
                url = request.url if not params else str(resp.url)
                return Response(resp.status, resp.headers, body, url)
        except aiohttp.ConnectionTimeoutError as exc:
            raise _wrap(e.TimeoutError, exc, request, request_sent=False) from exc
        except aiohttp.ServerTimeoutError as exc:
            raise _wrap(e.TimeoutError, exc, request) from exc
        except asyncio.TimeoutError as exc:
            if request.total_timeout is not None:
                raise total_timeout(request) from exc
            raise _wrap(e.TimeoutError, exc, request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise _wrap(e.ConnectError, exc, request) from exc
        except aiohttp.ClientError as exc:
            raise _wrap(e.TransportError, exc, request) from exc

    async def _body(self, resp: aiohttp.ClientResponse, request: Request, started: float) -> bytes:
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
            async with self._take_turn(request, started):
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
        async with self._take_turn(request, started):
            return await _read_on(resp, request, chunks, size)

    def _take_turn(self, request: Request, started: float) -> _Turn:
        if self._turn is None:  # a caller's session, sent through without open()
            self._turn = anyio.Lock()
        return _Turn(self._turn, request, started)


class _Turn:
    """The wire's turn for a large answer, waited for within what is left of the attempt's
    total timeout (aiohttp's own timer does not run while a task waits on something else)."""

    __slots__ = ("_lock", "_request", "_started")

    def __init__(self, lock: anyio.Lock, request: Request, started: float) -> None:
        self._lock = lock
        self._request = request
        self._started = started

    async def __aenter__(self) -> None:
        total = self._request.total_timeout
        if total is None:
            await self._lock.acquire()
            return
        with anyio.move_on_after(total - (time.monotonic() - self._started)):
            await self._lock.acquire()
            return
        raise total_timeout(self._request)

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
