"""The wire's deadlines, kept by one watchdog: the total one, the read timeout between bytes,
and cancellations from outside that stay cancellations."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web

import aioglif as g
from aioglif._deadlines import TOTAL
from aioglif.testing import FakeGlifServer, Fault
from aioglif.wire import AiohttpWire, Request

from .conftest import serve, until

pytestmark = pytest.mark.anyio


def glifs(server: FakeGlifServer, **caps: float | None) -> Request:
    return Request(
        "GET",
        server.api_url + "/glifs",
        params={"limit": "20"},
        headers={"Authorization": f"Bearer {server.token}"},
        **caps,  # type: ignore[arg-type]
    )


@pytest.fixture
async def wire() -> AsyncIterator[AiohttpWire]:
    wire = AiohttpWire(read_timeout=None)
    await wire.open()
    try:
        yield wire
    finally:
        await wire.close()


def no_cancellation_left() -> bool:
    """The watchdog withdrew its cancellation: nothing is left for an outer scope to misread."""
    task = asyncio.current_task()
    return sys.version_info < (3, 11) or (task is not None and task.cancelling() == 0)


async def test_a_drip_that_beats_the_read_timeout_ends_at_the_total_deadline(
    server: FakeGlifServer, wire: AiohttpWire
) -> None:
    # A byte every 10 ms: the read timeout never passes, so only the total deadline ends it.
    server.inject(Fault.drip(0.01), path="/api/glifs")
    started = time.monotonic()
    with anyio.fail_after(30), pytest.raises(g.TimeoutError, match="total timeout") as info:
        await wire.send(glifs(server, read_timeout=0.5, total_timeout=1.0))
    assert time.monotonic() - started >= 1.0
    assert info.value.request_sent
    assert no_cancellation_left()
    # The wire goes on: the next request is answered.
    assert (await wire.send(glifs(server, total_timeout=30))).status == 200


@pytest.fixture
async def half_body_server() -> AsyncIterator[str]:
    """``/half`` sends its headers and half of its body, then nothing more."""
    done = anyio.Event()

    async def half(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 1000
        await resp.prepare(request)
        await resp.write(b"[" + b" " * 499)
        await done.wait()
        return resp

    async with serve({"/half": half}) as base:
        try:
            yield base + "/half"
        finally:
            done.set()


async def test_a_server_that_stops_mid_body_ends_at_the_read_timeout(
    half_body_server: str, wire: AiohttpWire
) -> None:
    started = time.monotonic()
    with anyio.fail_after(30), pytest.raises(g.TimeoutError, match="read timeout") as info:
        await wire.send(Request("GET", half_body_server, read_timeout=0.3, total_timeout=60))
    # Silence of at least the read timeout, at most a quarter more (plus the loop's lateness).
    assert time.monotonic() - started >= 0.3
    assert info.value.request_sent
    assert no_cancellation_left()


async def test_a_server_that_never_answers_ends_at_the_read_timeout(
    server: FakeGlifServer, wire: AiohttpWire
) -> None:
    server.gate.close_after(0)
    with anyio.fail_after(30), pytest.raises(g.TimeoutError, match="read timeout"):
        await wire.send(glifs(server, read_timeout=0.2))
    server.gate.open()


async def test_an_outside_cancel_during_a_request_stays_a_cancel(
    server: FakeGlifServer, wire: AiohttpWire
) -> None:
    server.gate.close_after(0)
    scope = anyio.CancelScope()
    after: list[bool] = []

    async def call() -> None:
        with scope:
            await wire.send(glifs(server, read_timeout=30, total_timeout=30))
        after.append(no_cancellation_left())

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await until(lambda: server.gate.held == 1)
            scope.cancel()
    assert scope.cancelled_caught and after == [True]
    server.gate.open()
    assert (await wire.send(glifs(server, total_timeout=30))).status == 200


async def test_move_on_after_around_a_request_moves_on(server: FakeGlifServer, wire: AiohttpWire) -> None:
    # The caller's own deadline, shorter than the wire's: the caller's wins, quietly.
    server.gate.close_after(0)
    with anyio.fail_after(30):
        with anyio.move_on_after(0.2) as scope:
            await wire.send(glifs(server, read_timeout=20, total_timeout=20))
    assert scope.cancelled_caught
    server.gate.open()


@pytest.mark.parametrize("first", ["watchdog", "outside"])
async def test_a_cancel_from_outside_at_the_deadline_is_still_a_cancel(
    server: FakeGlifServer, wire: AiohttpWire, first: str
) -> None:
    server.gate.close_after(0)
    scope = anyio.CancelScope()

    async def call() -> None:
        with scope:
            await wire.send(glifs(server, total_timeout=30))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await until(lambda: server.gate.held == 1)
            watchdog = wire._watchdog
            assert watchdog is not None
            (watch,) = watchdog._watches
            # Both in the same turn of the loop: the deadline passes as the caller cancels. (anyio
            # leaves no count of its cancellation: the scope itself is asked, on any Python.)
            if first == "watchdog":
                watchdog._expire(watch, TOTAL)
                scope.cancel()
            else:
                scope.cancel()
                watchdog._expire(watch, TOTAL)
    # No TimeoutError escaped the task group: the cancel was the caller's.
    assert scope.cancelled_caught
    server.gate.open()


async def test_concurrent_requests_each_end_at_their_own_deadline(
    server: FakeGlifServer, wire: AiohttpWire
) -> None:
    server.gate.close_after(0)  # nobody is answered until the gate opens
    kinds = {
        "total 0.2": {"total_timeout": 0.2},
        "read 0.3": {"read_timeout": 0.3},
        "total 1.0": {"total_timeout": 1.0, "read_timeout": 20.0},
        "none": {},
    }
    ended: dict[str, list[tuple[float, str]]] = {kind: [] for kind in kinds}
    started = time.monotonic()

    async def call(kind: str) -> None:
        try:
            resp = await wire.send(glifs(server, **kinds[kind]))
            outcome = str(resp.status)
        except g.TimeoutError as exc:
            outcome = (
                "total" if "total timeout" in str(exc) else "read" if "read timeout" in str(exc) else "?"
            )
        except g.GlifError as exc:  # no such end is right: shown by the assertions below
            outcome = f"{type(exc).__name__}: {exc}"
        ended[kind].append((time.monotonic() - started, outcome))

    # The one bound here that a stalled process could break is the order of the 0.2 s and the
    # 1.0 s ends: a full collection late in a long test session is such a stall, so none runs.
    gc.disable()
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    for kind in kinds:
                        tg.start_soon(call, kind)
                await until(lambda: sum(map(len, ended.values())) >= 12)
                # The four without a deadline are still waiting; the server now answers them.
                assert ended["none"] == [], ended
                server.gate.open()
    finally:
        gc.enable()
    # Each assertion shows every call's (seconds, outcome): a failure says which one and when.
    assert [o for _t, o in ended["total 0.2"]] == ["total"] * 4, ended
    assert [o for _t, o in ended["read 0.3"]] == ["read"] * 4, ended
    assert [o for _t, o in ended["total 1.0"]] == ["total"] * 4, ended
    assert [o for _t, o in ended["none"]] == ["200"] * 4, ended
    assert min(t for t, _o in ended["total 0.2"]) >= 0.2, ended
    assert min(t for t, _o in ended["read 0.3"]) >= 0.3, ended
    assert min(t for t, _o in ended["total 1.0"]) >= 1.0, ended
    assert max(t for t, _o in ended["total 0.2"]) < min(t for t, _o in ended["total 1.0"]), ended
