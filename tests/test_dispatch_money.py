"""Dispatch and money: the hard budget, prices that make no sense, the Simple API's 200 + error."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import aioglif as g
from aioglif.dispatch import Job, PriceError, dispatch
from aioglif.testing import FakeGlifServer, Fault

from .conftest import make_client
from .test_dispatch import a_glif, collect

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("budget", "price", "most_runs"),
    [("0.5", "0.1", 5), ("3", "2", 1), ("10", "2.5", 4), ("0.25", "0.3", 1)],
)
async def test_spending_never_passes_the_budget_by_more_than_one_runs_price(
    runs_server: FakeGlifServer, budget: str, price: str, most_runs: int
) -> None:
    runs_server.faults.run_price = price
    glif = a_glif(runs_server)
    jobs = [Job(glif["id"], key=i) for i in range(40)]  # type: ignore[arg-type]
    async with (
        make_client(runs_server) as client,
        dispatch(client, jobs, concurrency=8, max_credits=budget) as run,
    ):
        out = [r async for r in run]
    spent = run.stats.credits
    assert spent == Decimal(price) * runs_server.runs_started
    assert spent <= Decimal(budget) + Decimal(price)
    # Once the price is known, a run starts only if it fits: never over at a constant price...
    assert runs_server.runs_started == most_runs
    assert run.stats.stopped_because == "budget" and run.stats.stopped_by_budget
    assert all(r.ok for r in out)


@pytest.mark.parametrize("price", ["NaN", "-1", "Infinity", "-0.5"])
async def test_a_price_that_makes_no_sense_fails_its_job_and_stops_spending(
    runs_server: FakeGlifServer, price: str
) -> None:
    runs_server.faults.run_price = price
    glif = a_glif(runs_server)
    jobs = [Job(glif["id"], key=i) for i in range(20)]  # type: ignore[arg-type]
    async with make_client(runs_server) as client:
        for budget in (None, "100"):
            runs_server.runs_started = 0
            async with dispatch(client, jobs, concurrency=4, max_credits=budget) as run:
                out = [r async for r in run]
            bad = [r for r in out if isinstance(r.error, PriceError)]
            assert bad and all(r.kind == "bad_price" and r.state == "failed" for r in bad)
            assert all(r.result is not None and r.raw for r in bad)  # what was paid for is kept
            assert run.stats.stopped_because == "bad price"
            assert runs_server.runs_started <= 4  # only those already in flight
            assert run.stats.credits == 0  # nothing nonsensical was added up


@pytest.mark.parametrize("said_as", ["body", "status"])
async def test_out_of_credits_stops_starting_runs(runs_server: FakeGlifServer, said_as: str) -> None:
    runs_server.faults.simple_errors = said_as  # type: ignore[assignment]
    runs_server.faults.run_price = "1"
    user = runs_server.tokens[runs_server.token]  # type: ignore[index]
    runs_server.data.credits[user] = Decimal(3)
    glif = a_glif(runs_server)
    jobs = [Job(glif["id"], key=i) for i in range(30)]  # type: ignore[arg-type]
    async with make_client(runs_server) as client:
        out = await collect(client, jobs, concurrency=1)
    kinds = [r.kind for r in out]  # type: ignore[attr-defined]
    assert kinds == ["ok", "ok", "ok", "out_of_credits"]
    assert out[-1].state == "pending"  # type: ignore[attr-defined]  # not started: may run later
    assert runs_server.runs_started == 3


async def test_a_run_failure_said_in_a_200_is_a_failed_job_with_its_kind(runs_server: FakeGlifServer) -> None:
    runs_server.faults.run_failure_rate = 1.0
    glif = a_glif(runs_server)
    async with make_client(runs_server) as client:
        (r,) = await collect(client, [Job(glif["id"], key="x")])  # type: ignore[arg-type]
    assert (r.kind, r.state) == ("run_failed", "failed")  # type: ignore[attr-defined]
    assert b"model returned an error" in r.raw  # type: ignore[attr-defined]


async def test_a_rate_limit_said_in_a_200_slows_the_adaptive_rate(runs_server: FakeGlifServer) -> None:
    # At the starting rate of 10/s, 3 runs overlap: the second is refused unless 0.2 s pass
    # between sending it and the server reading it.
    runs_server.faults.max_concurrent_runs = 1
    runs_server.faults.run_latency = 0.3
    glif = a_glif(runs_server)
    jobs = [Job(glif["id"], key=i) for i in range(8)]  # type: ignore[arg-type]
    retry = g.RetryPolicy(attempts=30, initial=0.01, maximum=0.05, max_elapsed=30)
    async with make_client(runs_server, rate="auto", retry=retry) as client:
        out = await collect(client, jobs, concurrency=6)
        adaptive = client._sender.adaptive
        assert adaptive is not None and adaptive.ceiling is not None  # a 429 by another name
        assert client.stats.rate_limited > 0
    assert all(r.ok for r in out)  # type: ignore[attr-defined]
    assert runs_server.runs_started == 8


@pytest.mark.parametrize("shape", ["list", "object"])
async def test_an_output_of_any_shape_is_kept(runs_server: FakeGlifServer, shape: str) -> None:
    runs_server.faults.run_output = shape  # type: ignore[assignment]
    glif = a_glif(runs_server)
    async with make_client(runs_server) as client:
        (r,) = await collect(client, [Job(glif["id"], key="x")])  # type: ignore[arg-type]
    assert r.ok  # type: ignore[attr-defined]
    assert isinstance(r.output, list if shape == "list" else dict)  # type: ignore[attr-defined]
    assert json.loads(r.raw)["outputFull"]["width"] == 512  # type: ignore[attr-defined]  # no model knows it


async def test_an_answer_that_does_not_decode_is_kept_raw(runs_server: FakeGlifServer) -> None:
    body = b'{"id": "x", "output": "paid for", "inputs": 5}'  # (a price that is no number: bad_price)
    runs_server.inject(Fault.answer(200, body=body), path="/simple")
    glif = a_glif(runs_server)
    async with make_client(runs_server) as client:
        out = await collect(client, [Job(glif["id"], key=i) for i in range(3)], max_credits=50)  # type: ignore[arg-type]
    first = out[0]
    assert (first.kind, first.state) == ("undecodable", "failed")  # type: ignore[attr-defined]
    assert first.raw == body  # type: ignore[attr-defined]
    assert len(out) == 1  # what it cost is unknown: the budget cannot be kept, no more runs
