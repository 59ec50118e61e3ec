"""The hard budget when a glif's price varies: prices of 0, prices that jump, prices that are no number.

Prices are set per run started on the fake server (``faults.run_prices``), so each moment is
picked by progress; what the dispatcher did is read at each submission (``before_submit``).
"""

from __future__ import annotations

from decimal import Decimal

import anyio
import pytest

from aioglif.dispatch import Dispatch, Job, PriceError, dispatch
from aioglif.testing import FakeGlifServer

from .conftest import make_client
from .test_dispatch import a_glif

pytestmark = pytest.mark.anyio


async def budgeted(
    server: FakeGlifServer, jobs: int, budget: str, concurrency: int = 8
) -> tuple[Dispatch[int], list[tuple[bool, int]]]:
    """Run the jobs; returns the dispatch and, per submission, (its glif one at a time?, runs in flight)."""
    glif = a_glif(server)
    seen: list[tuple[bool, int]] = []
    run: Dispatch[int] | None = None

    async def before_submit(job: Job[int], key: int) -> None:
        assert run is not None
        seen.append((job.glif_id in run.stats.one_at_a_time, run.stats.in_flight))

    async with make_client(server) as client:
        run = dispatch(
            client,
            [Job(glif["id"], key=i) for i in range(jobs)],  # type: ignore[arg-type]
            concurrency=concurrency,
            max_credits=budget,
            before_submit=before_submit,
        )
        async with run:
            out = [r async for r in run]
    assert all(r.ok for r in out)
    assert run.stats.credits == sum(r.price for r in out if r.price is not None)
    return run, seen


async def test_a_price_that_jumps_after_the_first_run_overshoots_only_by_the_runs_then_in_flight(
    runs_server: FakeGlifServer,
) -> None:
    for later, most in (("5", "40.1"), ("0.5", "4.1")):
        runs_server.runs_started = 0
        runs_server.faults.run_prices = ("0.1", later)
        run, seen = await budgeted(runs_server, 40, "1")
        # The first run alone (no price known), then 8 reserving 0.1 each: all 8 cost more.
        # Nothing starts after the first of them answered: only the runs in flight overshoot.
        assert seen[0] == (False, 0)
        assert not any(serial for serial, _ in seen)
        in_flight_at_jump = runs_server.runs_started - 1
        assert in_flight_at_jump <= 8
        assert run.stats.credits == Decimal("0.1") + in_flight_at_jump * Decimal(later) <= Decimal(most)
        assert run.stats.stopped_because == "budget"


async def test_a_price_of_0_reserves_nothing_so_runs_go_one_at_a_time(runs_server: FakeGlifServer) -> None:
    runs_server.faults.run_prices = ("0", "5")
    run, seen = await budgeted(runs_server, 40, "10")
    # 0 (alone: a price of 0 says nothing), 5 (alone: still no nonzero price), 5 (reserving 5).
    assert runs_server.runs_started == 3
    assert [n for _, n in seen] == [0, 0, 0]
    assert run.stats.credits == 10  # was 45: every slot started after a price of 0
    assert run.stats.stopped_because == "budget"


async def test_a_free_glif_under_a_budget_runs_one_at_a_time_and_costs_nothing(
    runs_server: FakeGlifServer,
) -> None:
    runs_server.faults.run_price = "0"
    run, seen = await budgeted(runs_server, 12, "1")
    assert runs_server.runs_started == 12 and run.stats.credits == 0
    assert [n for _, n in seen] == [0] * 12


async def test_after_a_jump_no_run_starts_beside_another_and_the_budget_holds(
    runs_server: FakeGlifServer,
) -> None:
    runs_server.faults.run_prices = ("1",) * 12 + ("3",)
    run, seen = await budgeted(runs_server, 200, "60")
    glif = a_glif(runs_server)
    assert run.stats.one_at_a_time == {glif["id"]}
    serial = [n for one, n in seen if one]
    assert serial and all(n == 0 for n in serial)  # the runs in flight answered first, then one by one
    assert max(n for one, n in seen if not one) > 0  # runs overlapped before
    # The runs in flight at the jump were absorbed by what was left: not a credit over.
    assert 60 - 3 < run.stats.credits <= 60
    assert run.stats.stopped_because == "budget"


async def test_a_constant_price_keeps_every_slot_busy(runs_server: FakeGlifServer) -> None:
    runs_server.faults.run_price = "0.25"
    glif = a_glif(runs_server)
    jobs = [Job(glif["id"], key=i) for i in range(40)]  # type: ignore[arg-type]
    runs_server.gate.close_after(2)  # the glif's graph and the first run (its price unknown)
    async with (
        make_client(runs_server) as client,
        dispatch(client, jobs, concurrency=8, max_credits=100) as run,
    ):
        with anyio.fail_after(30):
            # Its price known, all 8 slots start at once (the gate tells a count, not an event).
            while runs_server.gate.held < 8:  # noqa: ASYNC110
                await anyio.sleep(0.005)
        runs_server.gate.open()
        out = [r async for r in run]
    assert len(out) == 40 and all(r.ok for r in out)
    assert run.stats.credits == 10 and not run.stats.one_at_a_time


@pytest.mark.parametrize("price", ["NaN", "-1", "abc", "Infinity", "[1]"])
async def test_a_price_that_is_no_finite_number_is_that_jobs_error_and_stops_spending(
    runs_server: FakeGlifServer, price: str
) -> None:
    runs_server.faults.run_prices = ("0.5", "0.5", price, "0.5")
    glif = a_glif(runs_server)
    jobs = [Job(glif["id"], key=i) for i in range(20)]  # type: ignore[arg-type]
    for budget in (None, "100"):
        runs_server.runs_started = 0
        async with (
            make_client(runs_server) as client,
            dispatch(client, jobs, concurrency=1, max_credits=budget) as run,
        ):
            out = [r async for r in run]
        assert [r.kind for r in out] == ["ok", "ok", "bad_price"]
        assert isinstance(out[-1].error, PriceError) and out[-1].raw
        assert run.stats.stopped_because == "bad price"
        assert runs_server.runs_started == 3 and run.stats.credits == 1
