"""The in-memory wire: a client served by a :class:`FakeGlifServer` without a socket.

``GlifClient(wire=MemoryWire(server))`` sends every request straight to the fake server's
handlers, with its data, profiles, gate and faults (hostile ones included), and honours the
request's caps as the socket wire does: ``max_body`` (decompressed) and ``total_timeout``.
Nothing listens on a port, so tests are fast and cannot collide. The server need not be started.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import anyio
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from yarl import URL

from .. import _errors as e
from .._wire import Request, Response, too_large, total_timeout
from ._hostile import Answer

if TYPE_CHECKING:
    from ._server import FakeGlifServer

__all__ = ["MemoryWire"]


class Capture:
    """What a handler did besides answering: streamed a planned answer, or hung up."""

    def __init__(self) -> None:
        self.answer: Answer | None = None
        self.closed = False


# Set on an in-memory request: the server hands planned answers and hang-ups to the wire.
CAPTURE: Any = web.RequestKey("aioglif_capture", Capture) if hasattr(web, "RequestKey") else "capture"


def capture_of(request: web.Request) -> Capture | None:
    found = request.get(CAPTURE)
    return found if isinstance(found, Capture) else None


class _Body:
    """The request body, as aiohttp's handlers read it."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    async def readany(self) -> bytes:
        data, self._data = self._data or b"", None
        return data

    def at_eof(self) -> bool:
        return self._data is None

    def set_read_chunk_size(self, size: int) -> None:
        pass


class _Transport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 0) if name == "peername" else default

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class MemoryWire:
    """A :class:`~aioglif._wire.Wire` over a fake server's handlers, in this process."""

    def __init__(self, server: FakeGlifServer) -> None:
        self.server = server
        # The requests in flight, so that closing ends them as closing a socket wire does.
        self._scopes: dict[anyio.CancelScope, bool] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        for scope in self._scopes:
            self._scopes[scope] = True
            scope.cancel()

    async def send(self, request: Request) -> Response:
        total = request.total_timeout
        scope = anyio.CancelScope(deadline=math.inf if total is None else anyio.current_time() + total)
        self._scopes[scope] = False
        try:
            with scope:
                return await self._send(request)
            closed = self._scopes[scope]
        finally:
            del self._scopes[scope]
        if closed:
            # What a socket wire meets when its session closes under a request.
            raise e.TransportError(
                "ClientConnectionError: the wire was closed while the request ran",
                method=request.method,
                url=request.url,
            )
        raise total_timeout(request)

    async def _send(self, request: Request) -> Response:
        url = URL(request.url)
        if request.params:
            url = url.update_query(request.params)
        headers = CIMultiDict(request.headers or {})
        headers.setdefault("Host", url.raw_authority)
        capture = Capture()

        def make(match_info: Any = None) -> web.Request:
            extra = {} if match_info is None else {"match_info": match_info}
            req = make_mocked_request(
                request.method,
                url.raw_path_qs,
                headers=headers,
                app=self.server.app,
                payload=_Body(request.content or b""),  # type: ignore[arg-type]
                transport=_Transport(),
                **extra,
            )
            req[CAPTURE] = capture
            return req

        match = await self.server.app.router.resolve(make())
        req = make(match)
        try:
            response = await self.server._middleware(req, match.handler)
        except web.HTTPException as exc:
            response = exc
        if capture.answer is not None:
            return await _consume(capture, request, str(url))
        if capture.closed:
            raise e.TransportError(
                "ServerDisconnectedError: the server closed the connection",
                method=request.method,
                url=request.url,
            )
        body = _body_of(response)
        if request.max_body is not None and len(body) > request.max_body:
            raise too_large(request, request.max_body)
        return Response(response.status, _headers(response.headers), body, str(url))


def _body_of(response: web.StreamResponse) -> bytes:
    body = getattr(response, "body", None)
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    value = getattr(body, "_value", b"")  # a Payload: what it wraps
    return value if isinstance(value, bytes) else str(value).encode()


def _headers(given: Mapping[str, str]) -> CIMultiDict[str]:
    out = CIMultiDict(given)
    # What aiohttp adds when it sends an answer: listings read the server's clock from it.
    out.setdefault("Date", format_datetime(datetime.now(timezone.utc), usegmt=True))
    return out


async def _consume(capture: Capture, request: Request, url: str) -> Response:
    """A planned answer as a client would receive it: chunk by chunk, inflated, within caps."""
    answer = capture.answer
    assert answer is not None
    headers = _headers(answer.headers)
    gzip = headers.get("Content-Encoding", "").lower() == "gzip"
    inflate = zlib.decompressobj(31) if gzip else None
    limit = request.max_body
    parts: list[bytes] = []
    size = 0

    def take(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if limit is not None and size > limit:
            parts.clear()  # as the socket wire: a refusal's traceback must not pin the body
            raise too_large(request, limit)
        parts.append(data)

    for chunk in answer.chunks:
        if answer.interval:
            await anyio.sleep(answer.interval)
        if inflate is None:
            take(chunk)
            continue
        data = chunk
        while data:
            # Inflated a bounded piece at a time: a bomb never expands past the cap in memory.
            try:
                piece = inflate.decompress(data, 1 << 20)
            except zlib.error as exc:
                # What aiohttp says of a body that is not the gzip its header announces.
                raise e.TransportError(
                    f"ClientPayloadError: Can not decode content-encoding: gzip ({exc})",
                    method=request.method,
                    url=request.url,
                ) from None
            take(piece)
            data = inflate.unconsumed_tail
    if capture.closed:
        raise e.TransportError(
            "ClientPayloadError: the connection closed before the whole body arrived",
            method=request.method,
            url=request.url,
        )
    if gzip:
        headers.popall("Content-Encoding", None)
    return Response(answer.status, headers, b"".join(parts), url)
