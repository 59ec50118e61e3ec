"""The wire builds each request's URL itself: the same URL aiohttp would have built, and what
the server reads back is what was asked, whatever the characters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from aioglif.wire import AiohttpWire, Request

ODD = ["a b", "a&b=c", "+", "%41", "%", "é", "日本", "a/b?c#d", "", ";", "~._-", "\u2028", "'\"<>"]
BASES = [
    "http://127.0.0.1:8000/api/runs",
    "http://127.0.0.1:8000/api/glifs?includes=spells.data",
    "http://127.0.0.1:8000/api/ru ns/é",
    "http://127.0.0.1:8000/api/runs#top",
    "http://127.0.0.1:8000/api/runs?",
]

texts = st.one_of(
    st.sampled_from(ODD), st.text(max_size=12), st.from_regex(r"[A-Za-z0-9._~-]{0,12}", fullmatch=True)
)


@given(st.sampled_from(BASES), st.dictionaries(texts, texts, max_size=4))
def test_the_url_is_the_one_aiohttp_would_build(base: str, params: dict[str, str]) -> None:
    wire = AiohttpWire()
    for _ in range(2):  # built, then from the kept base
        target, text = wire._target(base, params)
        expected = URL(base).extend_query(params) if params else URL(base)
        assert str(target) == str(expected)
        assert target.raw_query_string == expected.raw_query_string
        assert text == (str(expected) if params else base)


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(list(request.query.items()))

    app = web.Application()
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/echo"
    finally:
        await runner.cleanup()


@pytest.mark.anyio
async def test_the_server_reads_back_every_character(echo_server: str) -> None:
    wire = AiohttpWire()
    await wire.open()
    try:
        for value in [*ODD, "clx0abc123", "spells.data"]:
            params = {"id": value, "page": "2"}
            resp = await wire.send(Request("GET", echo_server, params=params, total_timeout=30))
            assert json.loads(resp.body) == [["id", value], ["page", "2"]]
            assert URL(resp.url).query == params
    finally:
        await wire.close()
