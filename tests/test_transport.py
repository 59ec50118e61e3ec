"""Retries, Retry-After, the shared 429 pause, the limiter, the in-flight cap and timeouts."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import anyio
import pytest

import aioglif as g
from aioglif.testing import FakeGlifServer, Fault

from .conftest import make_client, until

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(server: FakeGlifServer) -> AsyncIterator[g.GlifClient]:
    # These tests count the requests of one read: with the page numbering known, a first page
    # is one request (a fresh client would ask for page 0 first).
    async with make_client(server, first_page=1) as c:
        yield c


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_transient_statuses_are_retried_on_reads(
    client: g.GlifClient, server: FakeGlifServer, status: int
) -> None:
    server.inject(Fault.answer(status), Fault.answer(status), path="/api/glifs")
    page = await client.glifs(page_size=5).first_page()
    assert len(page.items) == 5
    assert [r.status for r in server.served("/api/glifs")] == [status, status, 200]
    assert client.stats.retries == 2 and client.stats.errors == 2


@pytest.mark.parametrize("fault", [Fault.drop(), Fault.truncate(), Fault.invalid_json()])
async def test_broken_answers_are_retried_on_reads(
    client: g.GlifClient, server: FakeGlifServer, fault: Fault
) -> None:
    server.inject(fault, path="/api/glifs")
    glif = await client.get_glif(server.data.public_glifs[0]["id"])
    assert glif.data is not None
    assert server.served("/api/glifs")[0].fault == fault.kind
    assert server.served("/api/glifs")[-1].status == 200


async def test_retries_stop_after_the_attempt_cap(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.inject(*[Fault.answer(503)] * 10, path="/api/glifs")
    with pytest.raises(g.ServerError) as info:
        await client.glifs().first_page()
    assert info.value.status == 503
    assert len(server.served("/api/glifs")) == 4  # FAST_RETRY.attempts


async def test_retries_stop_at_the_elapsed_time_cap(server: FakeGlifServer) -> None:
    policy = g.RetryPolicy(attempts=50, initial=0.01, maximum=0.01, max_elapsed=0.5)
    server.inject(*[Fault.answer(503, retry_after=1)] * 3, path="/api/glifs")
    async with make_client(server, retry=policy, first_page=1) as client:
        with pytest.raises(g.ServerError):
            await client.glifs().first_page()
    # Retry-After 1 s is longer than the whole budget: no retry is attempted.
    assert len(server.served("/api/glifs")) == 1


async def test_client_errors_are_not_retried(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.inject(Fault.answer(400), path="/api/glifs")
    with pytest.raises(g.APIStatusError) as info:
        await client.glifs().first_page()
    assert type(info.value) is g.APIStatusError and info.value.status == 400
    assert len(server.served("/api/glifs")) == 1


async def test_retry_after_seconds_is_honoured(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.inject(Fault.answer(429, retry_after=1), path="/api/runs")
    await client.runs().first_page()
    first, second = server.served("/api/runs")
    assert second.time - first.time >= 0.95
    assert client.stats.rate_limited == 1


async def test_retry_after_http_date_is_honoured(client: g.GlifClient, server: FakeGlifServer) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=2), usegmt=True)
    server.inject(Fault.answer(503, retry_after=when), path="/api/runs")
    await client.runs().first_page()
    first, second = server.served("/api/runs")
    # The date has one-second resolution: at least one second of the two must have been waited.
    assert second.time - first.time >= 0.95


async def test_a_429_pauses_every_request_of_the_client(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.inject(Fault.answer(429, retry_after=1), path="/api/glifs")
    glif_id = server.data.public_glifs[0]["id"]
    async with anyio.create_task_group() as tg:
        tg.start_soon(client.glifs().first_page)
        await until(lambda: client.stats.rate_limited == 1)  # the 429 has arrived; now another endpoint
        tg.start_soon(client.get_run, server.data.public_runs[0]["id"])
    limited = server.served("/api/glifs", status=429)[0]
    other = server.served("/api/runs")[0]
    assert other.time - limited.time >= 0.95, "the other request did not wait for the pause"
    assert glif_id


async def test_a_pause_longer_than_the_budget_fails_fast(server: FakeGlifServer) -> None:
    policy = g.RetryPolicy(attempts=3, initial=0.01, max_elapsed=5.0)
    server.inject(Fault.answer(429, retry_after=3600), path="/api/glifs")
    async with make_client(server, retry=policy, first_page=1) as client:
        with pytest.raises(g.RateLimitedError) as info:
            await client.glifs().first_page()
        assert info.value.retry_after == 3600
        with anyio.fail_after(60):  # the paused client refuses instead of sleeping an hour
            with pytest.raises(g.RateLimitedError, match="paused"):
                await client.runs().first_page()
    assert len(server.requests) == 1


async def test_create_glif_is_never_retried_once_sent(client: g.GlifClient, server: FakeGlifServer) -> None:
    for fault in (Fault.answer(503), Fault.drop(), Fault.answer(429, retry_after=0)):
        server.inject(fault, path="/api/glifs")
        with pytest.raises(g.GlifError):
            await client.create_glif("once", graph={"nodes": []})
    assert [r.method for r in server.served("/api/glifs")] == ["POST"] * 3


async def test_run_glif_is_retried_only_where_it_cannot_have_started(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    glif_id = server.data.public_glifs[0]["id"]
    server.inject(Fault.answer(429, retry_after=0), path="/simple")
    assert (await client.run_glif(glif_id)).id == glif_id
    assert [r.status for r in server.served("/simple")] == [429, 200]
    for fault in (Fault.answer(500), Fault.answer(503), Fault.drop()):
        server.requests.clear()
        server.inject(fault, path="/simple")
        with pytest.raises(g.GlifError):
            await client.run_glif(glif_id)
        assert len(server.served("/simple")) == 1, fault


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_connection_refused_is_a_connect_error_and_retried_even_for_runs() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    policy = g.RetryPolicy(attempts=3, initial=0.01, maximum=0.01)
    async with g.GlifClient("t", api_url=url + "/api", simple_api_url=url, rate=None, retry=policy) as client:
        with pytest.raises(g.ConnectError) as info:
            await client.run_glif("g")
        assert not info.value.request_sent
        assert client.stats.retries == 2
        assert info.value.__cause__ is not None and "aiohttp" in type(info.value.__cause__).__module__


async def test_read_timeout_is_a_timeout_error(server: FakeGlifServer) -> None:
    server.gate.close_after(0)  # a server that never answers: no race between two delays
    policy = g.RetryPolicy(attempts=1)
    async with make_client(server, timeouts=g.Timeouts(read=0.2), retry=policy) as client:
        with pytest.raises(g.TimeoutError) as info:
            await client.glifs().first_page()
    server.gate.open()
    assert isinstance(info.value, TimeoutError)  # the builtin too
    assert info.value.request_sent


async def test_runs_get_their_own_longer_read_timeout(server: FakeGlifServer) -> None:
    server.faults.run_latency = 0.5
    timeouts = g.Timeouts(read=0.2, run_read=60.0)
    async with make_client(server, timeouts=timeouts) as client:
        assert await client.run_glif(server.data.public_glifs[0]["id"])


async def test_the_limiter_keeps_under_a_server_rate_limit(server: FakeGlifServer) -> None:
    server.faults.rate_limit = 20.0
    server.faults.burst = 2
    async with make_client(server, rate=10.0, first_page=1) as client:
        await client.glifs(page_size=5, max_items=60).collect()
    assert len(server.served("/api/glifs")) == 12
    assert server.served(status=429) == []


async def test_without_the_limiter_the_same_listing_meets_429s_and_survives(server: FakeGlifServer) -> None:
    server.faults.rate_limit = 5.0
    policy = g.RetryPolicy(attempts=10, initial=0.05, maximum=0.5, max_elapsed=30)
    async with make_client(server, rate=None, retry=policy) as client, anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(client.glifs(page_size=100).first_page)
    assert server.served(status=429), "the test should provoke the server's limit"
    assert client.stats.rate_limited == len(server.served(status=429))
    assert len(server.served("/api/glifs", status=200)) == 4


async def test_requests_in_flight_are_capped(server: FakeGlifServer) -> None:
    server.faults.latency = 0.1
    server.gate.close_after(0)  # held until three are there: the cap is reached whatever the speed
    async with make_client(server, max_in_flight=3) as client, anyio.create_task_group() as tg:
        for glif in server.data.public_glifs[:12]:
            tg.start_soon(client.get_glif, glif["id"])
        await until(lambda: server.gate.held >= 3)
        server.gate.open()
    assert server.peak_in_flight == 3


@pytest.mark.parametrize("form", ["date", "none"])
async def test_one_429_never_turns_into_a_burst_of_retries(server: FakeGlifServer, form: str) -> None:
    # A bucket of 20 a second (10 at once); the client told 100. The HTTP-date names the moment
    # itself, to the second below, so it is often already past when it arrives: read naively,
    # no pause at all. Without a Retry-After the pause is the backoff's alone.
    server.faults.rate_limit, server.faults.burst, server.faults.retry_after = 20.0, 10, form  # type: ignore[assignment]
    ids = [g["id"] for g in server.data.public_glifs[:40]]
    client = make_client(server, rate=100.0, retry=g.RetryPolicy())
    async with client, anyio.create_task_group() as tg:
        for glif_id in ids:
            tg.start_soon(client.get_glif, glif_id)
    limited = server.served(status=429)
    assert limited, "the test should provoke the server's limit"
    assert len(server.served(status=200)) == 40
    assert client.stats.rate_limited == len(limited)
