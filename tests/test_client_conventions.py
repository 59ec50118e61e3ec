"""The client conventions of openai-python and httpx: default headers and a user agent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import aioglif as g
from aioglif._wire import Request, Response
from aioglif.testing import FakeGlifServer, MemoryWire

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

    app = web.Application()
    app.router.add_get("/api/me", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/api", seen
    finally:
        await runner.cleanup()


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
