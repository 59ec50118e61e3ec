"""The in-memory wire: the fake server's data, faults and caps without a socket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

import aioglif as g
from aioglif.crawl import Crawl, Scope
from aioglif.testing import FakeData, FakeGlifServer, Fault, MemoryWire

from .conftest import FAST_RETRY, bytes_held_by, make_client

pytestmark = pytest.mark.anyio

MiB = 2**20


def memory_client(server: FakeGlifServer, **kwargs: object) -> g.GlifClient:
    return make_client(server, wire=MemoryWire(server), **kwargs)


@pytest.fixture
def offline() -> FakeGlifServer:
    # Never started: nothing listens, the wire reaches the handlers directly.
    return FakeGlifServer(FakeData.generate(seed=7, users=8, glifs=120, runs=900, spheres=3))


async def test_the_same_answers_as_over_a_socket(server: FakeGlifServer, offline: FakeGlifServer) -> None:
    async with make_client(server) as net, memory_client(offline) as mem:
        assert [x.id async for x in net.glifs()] == [x.id async for x in mem.glifs()]
        glif = offline.data.public_glifs[0]["id"]
        assert [r.id async for r in net.runs(glif_id=glif)] == [r.id async for r in mem.runs(glif_id=glif)]
        assert (await mem.me()).user.id == (await net.me()).user.id
        result = await mem.run_glif(glif, ["hello"])
    assert result.output is not None
    assert offline.served("/simple")[0].authorization == f"Bearer {offline.token}"


async def test_faults_are_served_and_retried(offline: FakeGlifServer) -> None:
    glif = offline.data.public_glifs[0]["id"]
    offline.inject(Fault.drop(), Fault.truncate(), Fault.invalid_json(), path="/api/glifs")
    async with memory_client(offline) as client:
        assert (await client.get_glif(glif)).id == glif
        assert client.stats.retries == 3
    assert [r.fault for r in offline.served("/api/glifs")] == ["drop", "truncate", "invalid_json", None]


async def test_caps_and_deadlines_hold_in_memory(offline: FakeGlifServer) -> None:
    offline.inject(Fault.gzip_bomb(64 * MiB), Fault.huge_body(8 * MiB), path="/api/glifs")
    async with memory_client(offline, max_body=MiB) as client:
        for _ in range(2):
            with pytest.raises(g.ResponseTooLarge):
                await client.glifs().first_page()
    offline.inject(Fault.drip(0.05), Fault.drip(0.05), path="/api/runs")
    policy = g.RetryPolicy(attempts=2, initial=0.01, maximum=0.01)
    async with memory_client(offline, retry=policy, timeouts=g.Timeouts(total=0.3)) as client:
        with anyio.fail_after(10), pytest.raises(g.TimeoutError):
            await client.runs().first_page()


async def test_a_refused_body_is_not_kept_alive_in_memory(offline: FakeGlifServer) -> None:
    offline.inject(Fault.huge_body(16 * MiB), path="/api/glifs")
    async with memory_client(offline, max_body=4 * MiB) as client:
        with pytest.raises(g.ResponseTooLarge) as info:
            await client.glifs().first_page()
    assert bytes_held_by(info.value) < 4 * MiB  # the chunk in hand, not what came before


async def test_an_echoed_token_is_redacted_in_memory(offline: FakeGlifServer) -> None:
    offline.inject(Fault.echo(200), path="/simple")
    async with memory_client(offline) as client:
        with pytest.raises(g.RunFailedError) as info:
            await client.run_glif(offline.data.public_glifs[0]["id"], ["x"])
    assert offline.token not in f"{info.value!r} {info.value.result}"


async def test_a_whole_crawl_in_memory(offline: FakeGlifServer, tmp_path: Path) -> None:
    async with (
        make_client(offline, wire=MemoryWire(offline), retry=FAST_RETRY) as client,
        Crawl(client, Scope(all=True, runs=True), tmp_path / "out.sqlite") as crawl,
    ):
        assert await crawl.run() == "complete"
    assert crawl.stats.new["runs"] == sum(1 for r in offline.data.public_runs)


@pytest.mark.parametrize(
    ("fault", "what"),
    [(Fault.bad_utf8(), "not UTF-8"), (Fault.deep_nesting(), "nested too deep")],
)
async def test_spoiled_answers_are_decode_errors_in_memory(
    offline: FakeGlifServer, fault: Fault, what: str
) -> None:
    glif = offline.data.public_glifs[0]["id"]
    offline.inject(*[fault] * 4, path="/api/glifs")
    async with memory_client(offline) as client:
        with pytest.raises(g.ResponseDecodeError, match=what):
            await client.get_glif(glif)


async def test_an_unreadable_date_header_is_no_advice_in_memory(offline: FakeGlifServer) -> None:
    offline.inject(Fault.header("Date", "Fri, 99999999999999999999 Nov 2026 00:00:00 GMT"), path="/api/runs")
    async with memory_client(offline) as client:
        assert len((await client.runs(page_size=5).first_page()).items) == 5


async def test_a_body_that_is_not_the_gzip_announced_is_a_transport_error(offline: FakeGlifServer) -> None:
    # As over a socket: a wire raises TransportError, never the decompressor's own zlib.error.
    offline.inject(Fault.header("Content-Encoding", "gzip"), path="/api/glifs")
    policy = g.RetryPolicy(attempts=1)
    async with memory_client(offline, retry=policy, first_page=1) as client:
        with pytest.raises(g.TransportError, match="content-encoding"):
            await client.glifs().first_page()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Fault.drip(-1),
        lambda: Fault.drip(float("nan")),
        lambda: Fault.huge_body(-5),
        lambda: Fault.header("X-A", "a\r\nSet-Cookie: x"),
        lambda: Fault.header("", "x"),
    ],
    ids=["drip-negative", "drip-nan", "size-negative", "header-crlf", "header-unnamed"],
)
def test_a_fault_no_server_can_serve_is_refused_when_made(make: Callable[[], Fault]) -> None:
    # Was served as: anyio's own ValueError out of the in-memory wire, or a traceback in the
    # socket server's log and the answer dropped.
    with pytest.raises(ValueError, match=r"must be|not a header"):
        make()
