"""Large answers are read one at a time: concurrency does not multiply ``max_body``.

Each answer is read freely up to ``large_body`` bytes; past that only while holding the wire's
one turn. Memory stays bounded whatever is in flight, small pages never wait, and nothing
deadlocks: the holder of the turn needs nothing else.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest
from aiohttp import web

import aioglif as g
from aioglif.testing import FakeGlifServer, Fault, fake_server_process
from aioglif.wire import AiohttpWire, Request

from .conftest import make_client, serve, until

pytestmark = pytest.mark.anyio

KiB, MiB = 2**10, 2**20


async def outcome(call: Callable[[], Awaitable[object]]) -> str:
    try:
        await call()
    except g.GlifError as exc:
        return type(exc).__name__
    return "ok"


def blank_array(size: int) -> bytes:
    return b"[" + b" " * (size - 2) + b"]"


async def test_small_pages_and_allowed_large_answers_succeed_among_refused_ones(
    server: FakeGlifServer,
) -> None:
    # Every /api/glifs answer is over large_body: chunked (the size learnt by reading), declared
    # (Content-Length), gzip; some within max_body, most not. Pages of runs are small meanwhile.
    server.inject(
        *[Fault.huge_body(4 * MiB)] * 4,
        *[Fault.gzip_bomb(4 * MiB)] * 3,
        *[Fault.huge_body(512 * KiB)] * 2,
        *[Fault.answer(200, body=blank_array(512 * KiB))] * 2,
        path="/api/glifs",
    )
    async with make_client(server, max_body=MiB, large_body=64 * KiB, first_page=1) as client:
        glifs: list[str] = []
        runs: list[int] = []

        async def glif_page() -> None:
            glifs.append(await outcome(client.glifs().first_page))

        async def run_page() -> None:
            runs.append(len((await client.runs(page_size=5).first_page()).items))

        # The bound ends a deadlock, it never paces the test.
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(11):
                    tg.start_soon(glif_page)
                for _ in range(4):
                    tg.start_soon(run_page)
    assert Counter(glifs) == {"ResponseTooLarge": 7, "ok": 4}
    assert runs == [5] * 4


async def test_no_deadlock_when_every_answer_in_flight_is_large(server: FakeGlifServer) -> None:
    server.inject(*[Fault.huge_body(3 * MiB), Fault.huge_body(700 * KiB)] * 6, path="/api/glifs")
    async with make_client(
        server, max_body=MiB, large_body=32 * KiB, max_in_flight=4, first_page=1
    ) as client:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                found: list[str] = []

                async def one() -> None:
                    found.append(await outcome(client.glifs().first_page))

                for _ in range(12):
                    tg.start_soon(one)
    assert Counter(found) == {"ResponseTooLarge": 6, "ok": 6}


async def test_large_body_above_max_body_still_caps_the_answer(server: FakeGlifServer) -> None:
    server.inject(Fault.huge_body(4 * MiB), Fault.gzip_bomb(4 * MiB), path="/api/glifs")
    async with make_client(server, max_body=MiB, large_body=8 * MiB, first_page=1) as client:
        for _ in range(2):
            assert await outcome(client.glifs().first_page) == "ResponseTooLarge"


@pytest.fixture
async def stalling_server() -> AsyncIterator[tuple[str, anyio.Event]]:
    """``/stall`` sends 256 KiB of an array, then waits for the event to finish it; ``/big``
    answers 256 KiB at once, with a Content-Length."""
    release = anyio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b"[" + b" " * (256 * KiB))
        await release.wait()
        await resp.write(b"]")
        return resp

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=blank_array(256 * KiB), content_type="application/json")

    async with serve({"/stall": stall, "/big": big}) as base:
        try:
            yield base, release
        finally:
            release.set()


@pytest.fixture
async def small_turn_wire() -> AsyncIterator[AiohttpWire]:
    """A wire whose answers past 64 KiB are read one at a time (under its turn)."""
    wire = AiohttpWire(large_body=64 * KiB)
    await wire.open()
    try:
        yield wire
    finally:
        await wire.close()


async def test_waiting_for_the_turn_counts_in_the_total_timeout(
    stalling_server: tuple[str, anyio.Event], small_turn_wire: AiohttpWire
) -> None:
    base, release = stalling_server
    wire = small_turn_wire
    holder: list[int] = []

    async def hold() -> None:
        resp = await wire.send(Request("GET", base + "/stall", max_body=MiB, total_timeout=60))
        holder.append(len(resp.body))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hold)
            # The holder has read past large_body and holds the turn, waiting for the rest.
            await until(lambda: wire._turn is not None and wire._turn.locked())
            with pytest.raises(g.TimeoutError, match="total timeout"):
                await wire.send(Request("GET", base + "/big", max_body=MiB, total_timeout=0.2))
            assert holder == []  # it timed out while the other still held the turn
            release.set()
    assert holder == [256 * KiB + 2]
    # The turn is free again: a large answer is read at once.
    resp = await wire.send(Request("GET", base + "/big", max_body=MiB, total_timeout=60))
    assert len(resp.body) == 256 * KiB
    assert type(resp.body) is bytes


async def test_waiting_for_the_turn_is_not_the_servers_silence(
    stalling_server: tuple[str, anyio.Event], small_turn_wire: AiohttpWire
) -> None:
    base, release = stalling_server
    wire = small_turn_wire
    sizes: list[int] = []

    async def send(path: str, read: float | None = None) -> None:
        resp = await wire.send(Request("GET", base + path, max_body=MiB, read_timeout=read))
        sizes.append(len(resp.body))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, "/stall")
            await until(lambda: wire._turn is not None and wire._turn.locked())
            tg.start_soon(send, "/big", 0.05)
            await until(lambda: wire._turn is not None and wire._turn.statistics().tasks_waiting == 1)
            # Ten of its read timeouts pass while it waits for the turn, not for the server.
            await anyio.sleep(0.5)
            release.set()
    assert sorted(sizes) == [256 * KiB, 256 * KiB + 2]


def test_large_body_must_be_a_positive_number_of_bytes() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="large_body"):
            g.GlifClient("t", large_body=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="large_body"):
            AiohttpWire(large_body=bad)  # type: ignore[arg-type]


RSS_CHILD = """
import asyncio, json, sys, urllib.request
import aioglif as g

base, n = sys.argv[1], int(sys.argv[2])
faults = [{"kind": "huge_body", "status": 200, "size": 300 * 2**20},
          {"kind": "gzip_bomb", "status": 200, "size": 500 * 2**20}] * (n // 2)
body = json.dumps({"faults": faults, "path": "/api/glifs"})
urllib.request.urlopen(urllib.request.Request(base + "/_fake/inject", body.encode())).read()

async def main() -> list[str]:
    async with g.GlifClient("fake-token", api_url=base + "/api", simple_api_url=base + "/simple",
                            first_page=1, rate=None, max_in_flight=n) as c:
        async def one() -> str:
            try:
                await c.glifs().first_page()
            except g.GlifError as exc:
                return type(exc).__name__
            return "none"
        return await asyncio.gather(*(one() for _ in range(n)))

print(json.dumps(asyncio.run(main())))
# VmHWM: the peak RSS of this program only (ru_maxrss may count the forking parent's too).
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(hwm.split()[1]) // 1024)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from /proc")
def test_peak_memory_of_16_huge_answers_and_gzip_bombs_at_once() -> None:
    """16 requests in flight meet 300 MB bodies and 500 MB gzip bombs at once, with the default
    caps: each is refused and the client process peaks under 250 MB (1 GB when each could read
    up to max_body at the same time)."""
    with fake_server_process() as base:
        done = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, base, "16"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    found, peak_mb = done.stdout.split("\n")[:2]
    print(f"16 at once: peak {peak_mb} MB")
    assert found.count("ResponseTooLarge") == 16, found
    assert int(peak_mb) < 250
