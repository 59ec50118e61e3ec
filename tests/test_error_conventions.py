"""Errors carry ``.status_code`` and ``.headers``, as openai-python's and httpx's do."""

from __future__ import annotations

import pytest

import aioglif as g
from aioglif.testing import FakeGlifServer, Fault

from .conftest import make_client

pytestmark = pytest.mark.anyio


async def test_status_errors_carry_the_status_code_and_the_headers(server: FakeGlifServer) -> None:
    server.inject(Fault.answer(404), path="/api/me")
    async with make_client(server) as client:
        with pytest.raises(g.NotFoundError) as caught:
            await client.me()
    assert caught.value.status_code == caught.value.status == 404
    assert "json" in caught.value.headers.get("content-type", "")  # looked up case-insensitively


async def test_a_429_keeps_its_retry_after_header(server: FakeGlifServer) -> None:
    server.inject(*[Fault.answer(429, retry_after=0)] * 20, path="/api/me")
    policy = g.RetryPolicy(attempts=1)
    async with make_client(server, retry=policy) as client:
        with pytest.raises(g.RateLimitedError) as caught:
            await client.me()
    assert caught.value.status_code == 429
    assert caught.value.headers["retry-after"] == "0"
