"""Redirects within one attempt: the hops share its total timeout, and a redirect to a URL that
holds the token is refused without the token reaching any message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import aioglif as g
from aioglif import GlifClient, RetryPolicy, Timeouts
from aioglif._retry import Safety
from aioglif.testing import FakeGlifServer, Fault

from .conftest import make_client, serve

pytestmark = pytest.mark.anyio

HOP_SECONDS = 0.15  # each hop's answer comes this late: within the total, five of them not


@pytest.fixture
async def hops() -> AsyncIterator[tuple[str, list[int]]]:
    served: list[int] = []

    async def hop(request: web.Request) -> web.StreamResponse:
        n = int(request.query["n"])
        served.append(n)
        await asyncio.sleep(HOP_SECONDS)  # the server's slowness, not a moment the test picks
        if n >= 4:
            return web.json_response([])
        return web.Response(status=307, headers={"Location": f"/hop?n={n + 1}"})

    async with serve({"/hop": hop}) as base:
        yield base, served


async def test_redirect_hops_share_one_attempts_total_timeout(hops: tuple[str, list[int]]) -> None:
    url, served = hops
    timeouts = Timeouts(total=2 * HOP_SECONDS + 0.05, read=10)
    async with GlifClient(
        "t" * 20, api_url=url + "/api", rate=None, retry=RetryPolicy(attempts=1), timeouts=timeouts
    ) as client:
        # Each hop alone is within the total: with a fresh total per hop, all five are followed
        # and the call succeeds after five times the hop's delay.
        with pytest.raises(g.TimeoutError, match="total timeout"):
            await client._sender.request(
                "GET", url + "/hop", params={"n": "0"}, decoder=bytes, safety=Safety.IDEMPOTENT
            )
    assert len(served) < 5


@pytest.mark.parametrize("then", ["timeout", "status", "ok"])
async def test_a_redirect_to_a_url_holding_the_token_is_refused_and_the_token_shown_nowhere(
    server: FakeGlifServer, then: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject(Fault.redirect(f"/api/glifs?echo={server.token}"), path="/api/glifs")
    if then != "ok":
        server.inject(Fault.drip(0.01) if then == "timeout" else Fault.answer(503), path="/api/glifs")
    caplog.set_level(logging.DEBUG, logger="aioglif")
    async with make_client(server, retry=RetryPolicy(attempts=1), timeouts=Timeouts(total=0.3)) as client:
        with pytest.raises(g.TooManyRedirects, match="holds the token") as info:
            await client.get_glif(server.data.glifs[0]["id"])
    shown = [str(info.value), repr(info.value), caplog.text]
    assert not [text for text in shown if server.token in text]
    assert [r for r in server.requests if "echo" in r.query] == []  # never sent there
