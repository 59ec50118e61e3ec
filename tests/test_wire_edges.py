"""The wire's deadlines at their edges: a caller's own session (reopened, closed under a
request, its pool to wait for), a cancel from plain asyncio, a connection left mid-body."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import sys
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest
from aiohttp import web

import aioglif as g
from aioglif._deadlines import TOTAL
from aioglif.testing import FakeGlifServer
from aioglif.wire import AiohttpWire, Request

from .conftest import make_client, serve, until

pytestmark = pytest.mark.anyio


class Site:
    """A small server of our own: ``/ok`` answers at once, ``/hold`` and ``/half`` (headers and
    half of the body) wait for ``release``."""

    def __init__(self) -> None:
        self.url = ""
        self.release = asyncio.Event()
        self.hits: dict[str, int] = {}

    def hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    s = Site()

    async def gz(request: web.Request) -> web.StreamResponse:
        # A gzip answer, one byte at a time: each byte beats the read timeout.
        s.hit("gz")
        body = gzip.compress(b"[" + b'"x", ' * 2000 + b'"x"]')
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        await resp.prepare(request)
        for i in range(len(body)):
            await resp.write(body[i : i + 1])
            await asyncio.sleep(0.03)  # the server's pace, not a moment the test picks
        return resp

    async def ok(request: web.Request) -> web.StreamResponse:
        s.hit("ok")
        return web.json_response([1, 2, 3])

    async def hold(request: web.Request) -> web.StreamResponse:
        s.hit("hold")
        await s.release.wait()
        return web.json_response([])

    async def half(request: web.Request) -> web.StreamResponse:
        s.hit("half")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 1000
        await resp.prepare(request)
        await resp.write(b"[" + b" " * 499)
        await s.release.wait()
        return resp

    async with serve({"/ok": ok, "/hold": hold, "/half": half, "/gz": gz}) as s.url:
        try:
            yield s
        finally:
            s.release.set()


async def test_a_callers_session_is_used_again_after_the_wire_reopens(site: Site) -> None:
    # Closing the wire leaves the caller's session to the caller; opening it again must take
    # that session back, not make one of its own that nobody closes (an unclosed-session leak,
    # and the caller's proxy, cookies and connector silently dropped).
    async with aiohttp.ClientSession() as session:
        wire = AiohttpWire(session=session)
        for _ in range(2):
            await wire.open()
            assert (await wire.send(Request("GET", site.url + "/ok", total_timeout=10))).status == 200
            assert wire._session is session
            await wire.close()
            assert not session.closed
        with pytest.raises(RuntimeError, match="not open"):
            await wire.send(Request("GET", site.url + "/ok"))


async def test_a_request_in_flight_keeps_its_deadline_when_the_wire_closes(site: Site) -> None:
    # The caller's session outlives the wire: a request still in flight on it (another task's)
    # when the wire closes must still end at its deadline, not hang on a silent server; and
    # once it has ended, no timer of the wire is left on the loop.
    async with aiohttp.ClientSession() as session:
        wire = AiohttpWire(session=session, read_timeout=None)
        await wire.open()
        watchdog = wire._watchdog
        assert watchdog is not None
        ended: list[BaseException] = []

        async def call() -> None:
            try:
                await wire.send(Request("GET", site.url + "/hold", total_timeout=0.3))
            except g.TimeoutError as exc:
                ended.append(exc)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await until(lambda: site.hits.get("hold") == 1)
                await wire.close()
        assert len(ended) == 1 and "total timeout" in str(ended[0])
        assert watchdog._handle is None


async def test_a_connection_left_mid_body_by_a_timeout_is_not_read_again(site: Site) -> None:
    # One pooled connection: the body the timed-out request left unread must not become the
    # start of the next answer.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        wire = AiohttpWire(session=session, read_timeout=None)
        await wire.open()
        with pytest.raises(g.TimeoutError, match="total timeout"):
            await wire.send(Request("GET", site.url + "/half", total_timeout=0.2))
        for _ in range(3):
            resp = await wire.send(Request("GET", site.url + "/ok", total_timeout=10))
            assert (resp.status, resp.body) == (200, b"[1, 2, 3]")
        await wire.close()


async def test_asyncio_wait_for_around_a_request_is_its_own_timeout(site: Site) -> None:
    # Plain asyncio, not anyio: the caller's timer cancels the request; what comes out is the
    # caller's asyncio timeout, and no cancellation is left on the task.
    wire = AiohttpWire(read_timeout=None)
    await wire.open()
    try:
        with pytest.raises(asyncio.TimeoutError) as info:
            await asyncio.wait_for(wire.send(Request("GET", site.url + "/hold", total_timeout=30)), 0.2)
        assert not isinstance(info.value, g.TimeoutError)
        if sys.version_info >= (3, 11):
            task = asyncio.current_task()
            assert task is not None and task.cancelling() == 0
        assert wire._watchdog is not None and not wire._watchdog._watches
    finally:
        await wire.close()


async def test_waiting_for_a_pooled_connection_is_not_the_servers_silence(site: Site) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        wire = AiohttpWire(session=session, read_timeout=None)
        await wire.open()
        loop = asyncio.get_running_loop()
        ended: list[object] = []

        async def call(path: str, read: float) -> None:
            try:
                ended.append((await wire.send(Request("GET", site.url + path, read_timeout=read))).status)
            except g.TimeoutError as exc:
                ended.append(exc)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, "/hold", 30.0)  # holds the one connection
                await until(lambda: site.hits.get("hold") == 1)
                queued = loop.time()
                tg.start_soon(call, "/ok", 0.2)  # waits for the connection, sends nothing
                # The queued request ended, or more than twice its read timeout passed while it
                # waited for the pool (the assertion holds whatever the machine's speed).
                await until(lambda: bool(ended) or loop.time() - queued > 0.5)
                site.release.set()
        await wire.close()
    assert ended == [200, 200]


async def test_leaving_a_listing_as_its_pages_reach_their_deadline_is_no_timeout(
    server: FakeGlifServer,
) -> None:
    # The socket wire under a whole listing: the pages in flight meet their total deadline in
    # the very turn the caller leaves the listing. The leaving wins: no page is retried or
    # raises, and nothing is left in flight or watched.
    server.gate.close_after(2)
    async with make_client(server) as client:
        wire = client._sender.wire
        assert isinstance(wire, AiohttpWire) and wire._watchdog is not None
        watchdog = wire._watchdog
        listing = client.glifs(page_size=5, concurrency=8)
        with anyio.fail_after(30):
            async with contextlib.aclosing(listing.__aiter__()) as items:
                async for _glif in items:
                    await until(lambda: server.gate.held == 2)  # two pages wait at the gate
                    assert len(watchdog._watches) == 2
                    for watch in list(watchdog._watches):
                        watchdog._expire(watch, TOTAL)
                    break  # aclosing closes the listing in this same turn
        assert listing.in_flight == 0
        assert not watchdog._watches
        arrived = server.gate.arrived
        server.gate.open()
        assert client.stats.retries == 0
    assert server.gate.arrived == arrived == 4


async def test_a_gzip_drip_ends_at_the_total_deadline_not_the_read_timeout(site: Site) -> None:
    # Compressed bytes that decode to nothing yet (the gzip header, a block's code tables) are
    # bytes all the same: a byte every 30 ms is no silence of 0.2 s.
    wire = AiohttpWire(read_timeout=None)
    await wire.open()
    try:
        with anyio.fail_after(10), pytest.raises(g.TimeoutError, match="total timeout"):
            await wire.send(Request("GET", site.url + "/gz", read_timeout=0.2, total_timeout=1.0))
    finally:
        await wire.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"read_timeout": float("nan")},
        {"read_timeout": 0},
        {"read_timeout": -1.0},
        {"connect_timeout": float("nan")},
        {"connect_timeout": -5},
        {"pool": 0},
        {"pool": True},
    ],
)
def test_a_wire_refuses_timeouts_and_pools_it_cannot_keep(bad: dict[str, float]) -> None:
    # A NaN read timeout silently kept no read timeout at all (no comparison with NaN is true);
    # a negative one ended every request at once as "no byte for -1s".
    with pytest.raises(ValueError, match=next(iter(bad))):
        AiohttpWire(**bad)  # type: ignore[arg-type]


async def test_a_callers_session_with_ever_new_read_timeouts_keeps_no_growing_cache(site: Site) -> None:
    # A caller who gives each call the time it has left (with_options(timeout=left)) sends a
    # new read timeout every time: the timeouts kept for reuse must not grow with them.
    async with aiohttp.ClientSession() as session:
        wire = AiohttpWire(session=session)
        await wire.open()
        for i in range(300):
            resp = await wire.send(Request("GET", site.url + "/ok", read_timeout=10 + i / 1000))
            assert resp.status == 200
        assert len(wire._caller_timeouts) <= 64
        await wire.close()


async def close_under_a_request(server: FakeGlifServer, client: g.GlifClient) -> BaseException:
    """What another task's call meets when the client closes while its request is held."""
    server.gate.close_after(0)
    out: list[BaseException] = []

    async def call() -> None:
        try:
            await client.get_glif(server.data.glifs[0]["id"])
        except BaseException as exc:  # whatever it is: its kind is the question
            out.append(exc)

    try:
        with anyio.fail_after(1):  # the call ends at once when it ends at all
            async with anyio.create_task_group() as tg:
                async with client:
                    tg.start_soon(call)
                    await until(lambda: server.gate.held == 1)
                await until(lambda: bool(out))
    finally:
        server.gate.open()
    return out[0]


async def test_a_call_under_way_when_the_client_closes_says_the_client_closed(server: FakeGlifServer) -> None:
    error = await close_under_a_request(server, make_client(server))
    assert isinstance(error, g.ClientClosedError), repr(error)


async def test_a_memory_wire_call_under_way_when_the_client_closes_ends(server: FakeGlifServer) -> None:
    from aioglif.testing import MemoryWire

    error = await close_under_a_request(server, make_client(server, wire=MemoryWire(server)))
    assert isinstance(error, (g.ClientClosedError, g.TransportError)), repr(error)
