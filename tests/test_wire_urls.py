"""What the server reads back of a request's query is what was asked, whatever the characters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aioglif.wire import AiohttpWire, Request

from .conftest import serve

ODD = ["a b", "a&b=c", "+", "%41", "%", "é", "日本", "a/b?c#d", "", ";", "~._-", "\u2028", "'\"<>"]


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(list(request.query.items()))

    async with serve({"/echo": echo}) as base:
        yield base + "/echo"


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


@pytest.mark.anyio
async def test_odd_keys_and_a_url_with_its_own_query_keep_every_pair(echo_server: str) -> None:
    wire = AiohttpWire()
    await wire.open()
    try:
        for key in ["a=b", "a&b", "é", "page"]:
            resp = await wire.send(
                Request("GET", echo_server, params={key: "1", "limit": "5"}, total_timeout=30)
            )
            assert json.loads(resp.body) == [[key, "1"], ["limit", "5"]]
        resp = await wire.send(Request("GET", echo_server + "?x=1", params={"page": "2"}, total_timeout=30))
        assert json.loads(resp.body) == [["x", "1"], ["page", "2"]]
        assert URL(resp.url).query == {"x": "1", "page": "2"}
        # The same path asked again with plain words: the answer says exactly where it came from.
        resp = await wire.send(
            Request("GET", echo_server, params={"glifId": "cl1", "page": "3"}, total_timeout=30)
        )
        assert resp.url == echo_server + "?glifId=cl1&page=3"
    finally:
        await wire.close()


def test_a_request_shown_masks_its_credentials() -> None:
    request = Request("GET", "http://h/api/runs", headers={"Authorization": "Bearer tok-123-secret"})
    shown = repr(request)
    assert "tok-123-secret" not in shown and "Authorization" in shown
    assert str(request) == shown


@pytest.mark.anyio
async def test_the_answer_names_the_url_aiohttp_asked() -> None:
    # A URL with no path, or with user info (sent as Basic auth, left out of the URL asked): the
    # answer's url is the one aiohttp itself reports, never the user info's password.
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(list(request.query.items()))

    async with serve({"/": echo, "/echo": echo}) as base:
        host = base.removeprefix("http://")
        wire = AiohttpWire()
        await wire.open()
        try:
            async with aiohttp.ClientSession() as session:
                for url in [base, f"http://user:pw-secret@{host}/echo", f"http://user@{host}/echo"]:
                    params = {"glifId": "cl1", "page": "2"}
                    async with session.get(url, params=params) as expected:
                        assert expected.status == 200
                    for _ in range(2):  # parsed, then from the wire's memory of the path
                        resp = await wire.send(Request("GET", url, params=params, total_timeout=30))
                        assert json.loads(resp.body) == [["glifId", "cl1"], ["page", "2"]]
                        assert resp.url == str(expected.url)
                        assert "pw-secret" not in resp.url
        finally:
            await wire.close()


def test_a_request_shown_masks_credentials_under_any_header_case() -> None:
    for name in ["authorization", "AUTHORIZATION"]:
        request = Request("GET", "http://h/api/runs", headers={name: "Bearer tok-123-secret"})
        assert "tok-123-secret" not in repr(request)


def test_a_request_shown_masks_credentials_that_repr_escapes() -> None:
    for token in ["tok\\123-secret", "tok'\"123-secret", "tok\x7f123-secret", "tok\u2028123-secret"]:
        request = Request("GET", "http://h/api/runs", headers={"Authorization": f"Bearer {token}"})
        assert "123-secret" not in repr(request)


@pytest.mark.anyio
async def test_params_as_pairs_or_text_are_still_aiohttps_to_send(echo_server: str) -> None:
    # Typed as a mapping, but a wire of the seam is public: what aiohttp takes, it still sends.
    wire = AiohttpWire()
    await wire.open()
    try:
        for params in [[("id", "a"), ("id", "b")], "id=a&id=b"]:
            request = Request("GET", echo_server, params=params, total_timeout=30)  # type: ignore[arg-type]
            resp = await wire.send(request)
            assert json.loads(resp.body) == [["id", "a"], ["id", "b"]]
    finally:
        await wire.close()
