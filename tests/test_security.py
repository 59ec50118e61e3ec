"""The token stays secret: not in reprs, errors or logs, and not sent to other hosts."""

from __future__ import annotations

import logging
import pickle

import pytest

import aioglif as g
from aioglif.testing import FakeData, FakeGlifServer, Fault

from .conftest import make_client

pytestmark = pytest.mark.anyio

SECRET = "glif_" + "ab12" * 16


@pytest.fixture
async def secret_server() -> FakeGlifServer:
    data = FakeData.generate(seed=3, users=3, glifs=10, runs=20, spheres=1)
    async with FakeGlifServer(data, tokens={SECRET: next(iter(data.users))}) as srv:
        yield srv  # type: ignore[misc]


async def test_token_is_not_in_reprs() -> None:
    client = g.GlifClient(SECRET)
    for text in (
        repr(client),
        str(client),
        repr(client.settings),
        str(client.settings),
        repr(client.settings.token),
    ):
        assert SECRET not in text
    assert "token=set" in repr(client)
    with pytest.raises(TypeError):
        pickle.dumps(client.settings.token)


async def test_token_is_not_in_errors_or_logs(
    secret_server: FakeGlifServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = b'{"error": "token ' + SECRET.encode() + b' is not allowed here"}'
    secret_server.inject(Fault.answer(503), Fault.answer(403, body=echo), path="/api/glifs")
    async with make_client(secret_server, token=SECRET, first_page=1) as client:
        with pytest.raises(g.PermissionDeniedError) as info:
            await client.glifs().first_page()
        assert await client.me()
    err = info.value
    assert SECRET not in str(err) and SECRET not in repr(err) and "***" in str(err)
    assert SECRET not in caplog.text
    assert "retrying GET" in caplog.text  # the logs did record the retry, just not the token
    assert all(r.authorization == f"Bearer {SECRET}" for r in secret_server.requests)


async def test_token_is_not_forwarded_on_a_redirect_to_another_host(secret_server: FakeGlifServer) -> None:
    async with FakeGlifServer(FakeData.generate(seed=4, users=2, glifs=5, runs=0, spheres=0)) as elsewhere:
        # localhost and 127.0.0.1 differ as origins, and so does another port.
        secret_server.inject(Fault.redirect(f"{elsewhere.api_url}/glifs?page=1&limit=100"), path="/api/glifs")
        async with make_client(secret_server, token=SECRET, first_page=1) as client:
            glifs = (await client.glifs().first_page()).items
        assert [x.id for x in glifs] == [x["id"] for x in elsewhere.data.public_glifs]
        (followed,) = elsewhere.requests
        assert followed.authorization is None
        assert client.stats.redirects == 1


async def test_token_is_kept_on_a_redirect_within_the_configured_host(secret_server: FakeGlifServer) -> None:
    secret_server.inject(Fault.redirect(f"{secret_server.api_url}/me", status=307), path="/api/me")
    async with make_client(secret_server, token=SECRET) as client:
        assert (await client.me()).user.id
    assert [r.authorization for r in secret_server.served("/api/me")] == [f"Bearer {SECRET}"] * 2


async def test_redirect_loops_end(secret_server: FakeGlifServer) -> None:
    loop = Fault.redirect(f"{secret_server.api_url}/runs")
    secret_server.inject(*[loop] * 10, path="/api/runs")
    async with make_client(secret_server, token=SECRET) as client:
        with pytest.raises(g.TooManyRedirects, match="redirects"):
            await client.runs().first_page()
    assert len(secret_server.served("/api/runs")) == 6  # the first request and 5 redirects


async def test_token_is_not_sent_to_unconfigured_hosts_at_all(secret_server: FakeGlifServer) -> None:
    assert g.Settings.from_args(SECRET, api_url="https://glif.app/api").token_origins == {
        ("https", "glif.app", 443),
        ("https", "simple-api.glif.app", 443),
    }


def test_bad_settings_are_rejected_early() -> None:
    for kwargs, message in (
        ({"api_url": "ftp://glif.app"}, "http"),
        ({"api_url": "https://user:pw@glif.app/api"}, "credentials"),
        ({"rate": 0}, "rate"),
        ({"max_in_flight": 0}, "max_in_flight"),
    ):
        with pytest.raises(ValueError, match=message):
            g.GlifClient("t", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token"):
        g.GlifClient("")
    with pytest.raises(ValueError, match="timeout"):
        g.Timeouts(read=0)
