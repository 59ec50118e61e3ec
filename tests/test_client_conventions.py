"""The client conventions of openai-python and httpx: default headers and a user agent, use
without ``async with``, ``with_options``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from aiohttp import web

import aioglif as g
from aioglif._wire import Request, Response
from aioglif.testing import FakeGlifServer, Fault, MemoryWire

from .conftest import make_client, serve

pytestmark = pytest.mark.anyio


class Recording(MemoryWire):
    """The in-memory wire, keeping the headers of every request it sends."""

    def __init__(self, server: FakeGlifServer) -> None:
        super().__init__(server)
        self.sent: list[dict[str, str]] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(dict(request.headers or {}))
        return await super().send(request)


def memory_client(
    server: FakeGlifServer, wire: MemoryWire, default_headers: dict[str, str] | None = None
) -> g.GlifClient:
    return g.GlifClient(
        server.token,
        api_url=server.api_url,
        simple_api_url=server.simple_api_url,
        rate=None,
        wire=wire,
        default_headers=default_headers,
    )


async def test_the_user_agent_names_the_library_and_its_version(server: FakeGlifServer) -> None:
    wire = Recording(server)
    async with memory_client(server, wire) as client:
        await client.me()
    assert wire.sent[0]["User-Agent"] == f"aioglif/{g.__version__}"


async def test_default_headers_go_with_every_request_and_may_replace_the_user_agent(
    server: FakeGlifServer,
) -> None:
    wire = Recording(server)
    headers = {"user-agent": "myapp/2.0", "X-Trace": "abc"}
    async with memory_client(server, wire, default_headers=headers) as client:
        await client.me()
        await client.run_glif(server.data.glifs[0]["id"])
    for sent in wire.sent:
        assert sent["X-Trace"] == "abc"
        assert [v for k, v in sent.items() if k.lower() == "user-agent"] == ["myapp/2.0"]
        assert sent["Authorization"] == f"Bearer {server.token}"  # the token still goes


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer x"}, {"AUTHORIZATION": "x"}, {"X-A": "1\r\nX-B: 2"}, {"X A": "1"}, {"": "1"}],
)
def test_bad_default_headers_are_refused_before_any_request(headers: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"header|token="):
        g.GlifClient("t", default_headers=headers)


def test_the_token_is_never_in_a_repr_with_default_headers() -> None:
    client = g.GlifClient("s3cret-token", default_headers={"X-Trace": "abc"})
    assert "s3cret" not in repr(client) + repr(client.settings)
    assert "X-Trace" in repr(client.settings)


@pytest.fixture
async def echo() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that answers ``{}`` and keeps each request's User-Agent."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("User-Agent", ""))
        return web.json_response({})

    async with serve({"/api/me": handle}) as base:
        yield base + "/api", seen


async def test_the_user_agent_goes_over_a_real_socket_also_through_ones_own_session(
    echo: tuple[str, list[str]],
) -> None:
    import aiohttp

    url, seen = echo
    async with g.GlifClient("t", api_url=url, simple_api_url=url, rate=None) as client:
        await client.get_raw("/me")
    async with (
        aiohttp.ClientSession() as session,
        g.GlifClient("t", api_url=url, simple_api_url=url, rate=None, session=session) as client,
    ):
        await client.get_raw("/me")
    assert seen == [f"aioglif/{g.__version__}"] * 2


# --- use without ``async with`` --------------------------------------------------------------


class Counting(MemoryWire):
    def __init__(self, server: FakeGlifServer) -> None:
        super().__init__(server)
        self.opened = 0

    async def open(self) -> None:
        self.opened += 1
        await anyio.lowlevel.checkpoint()  # a checkpoint: other tasks get in while it opens


async def test_a_client_used_without_async_with_opens_on_first_use_and_aclose_closes_it(
    server: FakeGlifServer,
) -> None:
    # Over a real socket: an aiohttp session left open would warn, and warnings fail the suite.
    client = make_client(server)
    me = await client.me()
    glifs = [x async for x in client.glifs(page_size=20, max_items=70)]  # pages fetched together
    assert me.user.id and len(glifs) == 70
    await client.aclose()
    assert not client._life.loose
    with pytest.raises(g.ClientClosedError, match="closed"):
        await client.me()
    with pytest.raises(g.ClientClosedError, match="closed"):
        [x async for x in client.glifs()]
    with pytest.raises(g.ClientClosedError, match="once"):
        await client.__aenter__()


async def test_tasks_using_a_new_client_at_once_open_it_once(server: FakeGlifServer) -> None:
    wire = Counting(server)
    client = memory_client(server, wire)
    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(client.me)
    await client.aclose()
    assert wire.opened == 1


async def test_a_listing_left_half_read_is_cleaned_up_by_aclose(server: FakeGlifServer) -> None:
    client = make_client(server)
    async for _ in client.glifs(page_size=10, concurrency=4):
        break
    await client.aclose()
    assert not client._life.loose


async def test_async_with_after_first_use_closes_the_client(server: FakeGlifServer) -> None:
    client = make_client(server)
    await client.me()
    async with client as same:
        assert same is client
        await client.me()
    with pytest.raises(g.ClientClosedError):
        await client.me()


# --- with_options ----------------------------------------------------------------------------


async def test_with_options_retries_its_own_way_and_shares_the_session_and_the_stats(
    server: FakeGlifServer,
) -> None:
    async with make_client(server) as client:  # the suite's fast policy: 4 attempts
        once = client.with_options(retry=g.RetryPolicy(attempts=1))
        server.inject(Fault.answer(500), Fault.answer(500), path="/api/me")
        with pytest.raises(g.APIStatusError) as caught:
            await once.me()
        assert caught.value.status_code == 500
        assert client.stats.requests == once.stats.requests == 1  # one counter, one attempt
        await client.me()  # the client still retries: the second 500, then an answer
        assert client.stats.requests == 3
        assert once._sender is client._sender and client.settings.retry.attempts == 4
        assert once.settings.token is client.settings.token
    with pytest.raises(g.ClientClosedError):
        await once.me()  # one lifetime


async def test_with_options_timeout_bounds_each_attempt(server: FakeGlifServer) -> None:
    release = asyncio.Event()
    server.inject(Fault.hold(release), path="/api/me")
    try:
        async with make_client(server) as client:
            quick = client.with_options(timeout=0.2, retry=g.RetryPolicy(attempts=1))
            with pytest.raises(g.TimeoutError):
                await quick.me()
            assert quick.settings.timeouts.total == 0.2
            assert client.settings.timeouts == g.Timeouts()
    finally:
        release.set()


@pytest.mark.parametrize("bad", [{"timeout": -1.0}, {"timeout": float("nan")}, {"retry": 3}])
def test_with_options_refuses_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError), match=r"timeout|RetryPolicy"):
        g.GlifClient("t").with_options(**bad)


# --- the raw answer --------------------------------------------------------------------------


async def test_raw_gives_the_status_the_headers_and_the_body_with_the_result(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    (glif_id,) = [x.id async for x in client.glifs(max_items=1)]
    r = await client.raw(client.get_glif, glif_id)
    parsed: g.Glif = r.parsed  # typed: mypy knows what the call returns
    assert r.status_code == 200 and parsed.id == glif_id
    assert "json" in r.headers["CONTENT-TYPE"]  # case-insensitive
    assert f"id={glif_id}" in r.url and glif_id.encode() in r.content
    ran = await client.raw(client.run_glif, glif_id, strict=False)
    assert ran.parsed.id and ran.status_code == 200


async def test_raw_answers_are_redacted_and_each_call_sees_its_own(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    server.inject(Fault.header("X-Echo", f"Bearer {server.token}"), path="/api/me")
    ids = [x.id async for x in client.glifs(max_items=5)]
    async with anyio.create_task_group() as tg:
        found: dict[str, g.RawResponse[g.Glif]] = {}

        async def one(glif_id: str) -> None:
            found[glif_id] = await client.raw(client.get_glif, glif_id)

        for glif_id in ids:
            tg.start_soon(one, glif_id)
        me = await client.raw(client.me)
    assert server.token not in me.headers["x-echo"]
    assert all(r.parsed.id == k and f"id={k}" in r.url for k, r in found.items())


async def test_raw_of_a_call_that_read_no_answer_says_so(client: g.GlifClient) -> None:
    async def nothing() -> int:
        return 1

    with pytest.raises(ValueError, match="no answer"):
        await client.raw(nothing)
