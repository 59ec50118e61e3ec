"""``Dispatch.stop(grace=...)``: what answers within the grace comes out, the rest is given up."""

from __future__ import annotations

import asyncio

import pytest

from aioglif.dispatch import AbandonedError, Job, dispatch
from aioglif.testing import FakeGlifServer, Fault

from .conftest import make_client, until
from .test_dispatch import a_glif, input_names

pytestmark = pytest.mark.anyio


def runs_seen(server: FakeGlifServer) -> int:
    return len([r for r in server.requests if r.path.startswith("/simple")])


async def test_a_stop_keeps_what_answers_within_the_grace_and_gives_up_the_rest(
    runs_server: FakeGlifServer,
) -> None:
    glif = a_glif(runs_server)
    name = input_names(glif)[0]
    answer, never = asyncio.Event(), asyncio.Event()
    # Six runs in flight: two answer once told to, four never do.
    runs_server.inject(*[Fault.hold(answer)] * 2, *[Fault.hold(never)] * 4, path="/simple")
    jobs = [Job(glif["id"], {name: f"v{i}"}, key=i) for i in range(10)]  # type: ignore[arg-type]
    try:
        async with make_client(runs_server) as client, dispatch(client, jobs, concurrency=6) as results:
            await until(lambda: runs_seen(runs_server) == 6)
            results.stop("enough", grace=600)  # long: what answers meanwhile is kept
            answer.set()
            out = []
            async for r in results:
                out.append(r)
                if len(out) == 2:
                    results.stop(grace=0)  # the rest: given up now
    finally:
        never.set()
    assert [r.state for r in out] == ["ok"] * 2 + ["unknown"] * 4
    given_up = out[2:]
    assert all(isinstance(r.error, AbandonedError) and r.kind == "abandoned" for r in given_up)
    s = results.stats
    assert (s.submitted, s.ok, s.abandoned, s.failed, s.in_flight) == (6, 2, 4, 0, 0)
    assert s.stopped_because == "enough"  # the first reason stays
    assert runs_seen(runs_server) == 6  # nothing was started after the stop
    assert runs_server.runs_started == 2


async def test_a_server_that_never_answers_cannot_hold_a_stop(runs_server: FakeGlifServer) -> None:
    glif = a_glif(runs_server)
    never = asyncio.Event()
    runs_server.inject(*[Fault.hold(never)] * 4, path="/simple")
    # Also a glif whose graph read never answers: taking jobs must not hold the stop either.
    other = next(g for g in runs_server.data.public_glifs if g["id"] != glif["id"])
    runs_server.inject(Fault.hold(never), path="/api/glifs", query={"id": other["id"]})  # type: ignore[dict-item]
    jobs = [Job(glif["id"], key=i) for i in range(4)] + [Job(other["id"], key=4)]  # type: ignore[arg-type]
    try:
        async with make_client(runs_server) as client, dispatch(client, jobs, concurrency=8) as results:
            await until(lambda: runs_seen(runs_server) == 4)
            results.stop(grace=0.05)
            out = [r async for r in results]
    finally:
        never.set()
    assert sorted(r.key for r in out) == [0, 1, 2, 3]
    assert {r.kind for r in out} == {"abandoned"}
    assert results.stats.abandoned == 4


async def test_a_grace_must_be_seconds(runs_server: FakeGlifServer) -> None:
    async with make_client(runs_server) as client, dispatch(client, []) as results:
        for bad in (-1, float("nan"), float("inf"), "1"):
            with pytest.raises(ValueError, match="grace must be a number of seconds"):
                results.stop(grace=bad)  # type: ignore[arg-type]
        assert [r async for r in results] == []
