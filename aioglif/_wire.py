"""The wire: send one request, return its status, headers and body. The only aiohttp code.

Everything polite (the rate limiter, the in-flight cap, the 429 pause, retries, redirects, the
token) lives above it in :mod:`aioglif._sender`, which knows the wire only by :class:`Wire`.
A test or a user plugs any other object with these three methods in its place.

What a wire raises is a :class:`~aioglif.TransportError` (or a subclass): no aiohttp exception
escapes, and the request's ``Authorization`` value never appears in a message. A wire honours
the request's caps: past ``total_timeout`` it raises :class:`~aioglif.TimeoutError`, past
``max_body`` bytes it stops reading and raises :class:`~aioglif.ResponseTooLarge`.
"""

from __future__ import annotations

import asyncio
from typing import Final

import aiohttp

from . import _errors as e

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
    ) -> None:
        self._connect = connect_timeout
        self._read = read_timeout
        self._pool = pool
        self._user_agent = user_agent
        self._session = session
        self._owns_session = session is None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    async def open(self) -> None:
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
                body = await _read(resp, request)
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


async def _read(resp: aiohttp.ClientResponse, request: Request) -> bytes:
    """The body, read a chunk at a time so that it never holds more than ``max_body``.

    The chunks are decompressed ones: a small gzip that inflates to gigabytes stops at the cap.
    """
    limit = request.max_body
    if limit is None:
        return await resp.read()
    declared = resp.content_length
    if declared is not None and "Content-Encoding" not in resp.headers:
        if declared > limit:
            raise too_large(request, limit)
        return await resp.read()  # no more than it declared: read at once
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            # The exception's traceback keeps this frame alive, often in a reference cycle that
            # only a full collection frees: without this, each refusal would pin max_body bytes.
            chunks.clear()
            raise too_large(request, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _wrap(
    cls: type[e.TransportError], exc: BaseException, request: Request, **kwargs: bool
) -> e.TransportError:
    detail = scrub(str(exc) or type(exc).__name__, secrets_of(request))
    message = f"{type(exc).__name__}: {detail}"
    if cls is e.ConnectError:
        return e.ConnectError(message, method=request.method, url=request.url)
    return cls(message, method=request.method, url=request.url, **kwargs)
