"""The run dispatcher: per-item results, failures, the budget, input checks, the run cap."""

from __future__ import annotations

from decimal import Decimal

import anyio
import anyio.lowlevel
import pytest

import aioglif as g
from aioglif.dispatch import Job, RejectedJob, dispatch
from aioglif.testing import FakeData, FakeGlifServer

from .conftest import make_client, until

pytestmark = pytest.mark.anyio


def input_names(glif: dict[str, object]) -> list[str]:
    nodes = glif["data"]["nodes"]  # type: ignore[index]
    return [n["name"] for n in nodes if n["type"] in ("TextInputBlock", "MultipickBlock", "ImageInputBlock")]


@pytest.fixture
async def runs_server() -> FakeGlifServer:
    data = FakeData.generate(seed=11, users=4, glifs=40, runs=20, spheres=0)
    data.credits = dict.fromkeys(data.credits, Decimal(10_000))
    async with FakeGlifServer(data) as server:
        yield server  # type: ignore[misc]


def a_glif(server: FakeGlifServer, inputs: int = 1) -> dict[str, object]:
    return next(x for x in server.data.public_glifs if len(input_names(x)) >= inputs)


async def collect(client: g.GlifClient, jobs: list[Job], **options: object) -> list[object]:
    async with dispatch(client, jobs, **options) as results:  # type: ignore[arg-type]
        return [r async for r in results]


async def test_every_job_gives_one_tagged_result(runs_server: FakeGlifServer) -> None:
    glif = a_glif(runs_server)
    name = input_names(glif)[0]
    jobs = [Job(glif["id"], {name: f"v{i}"}, key=f"k{i}") for i in range(30)]  # type: ignore[arg-type]
    async with make_client(runs_server) as client:
        results = await collect(client, jobs, concurrency=6)
    assert sorted(r.key for r in results) == sorted(f"k{i}" for i in range(30))  # type: ignore[attr-defined]
    assert all(r.ok and r.result.inputs[name] == r.job.inputs[name] for r in results)  # type: ignore[attr-defined]
    assert all(isinstance(r.price, Decimal) and r.seconds > 0 for r in results)  # type: ignore[attr-defined]
    assert runs_server.runs_started == 30


async def test_results_come_in_the_order_runs_finish(runs_server: FakeGlifServer) -> None:
    glifs = [x for x in runs_server.data.public_glifs if input_names(x)][:2]
    slow, fast = glifs
    slow["averageDuration"], fast["averageDuration"] = 400.0, 10.0
    runs_server.faults.run_time_scale = 1.0  # 0.4 s and 0.01 s
    async with make_client(runs_server) as client:
        results = await collect(
            client, [Job(slow["id"], key="slow"), Job(fast["id"], key="fast")], concurrency=2
        )
    assert [r.key for r in results] == ["fast", "slow"]  # type: ignore[attr-defined]


async def test_a_failed_run_is_a_result_and_the_batch_goes_on(runs_server: FakeGlifServer) -> None:
    ok, bad = [x for x in runs_server.data.public_glifs if input_names(x)][:2]
    runs_server.failing_glifs.add(bad["id"])  # type: ignore[arg-type]
    jobs = [Job(bad["id"] if i % 3 == 0 else ok["id"], key=i) for i in range(12)]  # type: ignore[arg-type]
    async with make_client(runs_server) as client, dispatch(client, jobs, concurrency=4) as results:
        out = [r async for r in results]
    failed = [r for r in out if not r.ok]
    assert sorted(r.key for r in failed) == [0, 3, 6, 9]
    assert all(isinstance(r.error, g.RunFailedError) and r.error.result.error for r in failed)
    assert results.stats.ok == 8
    assert results.stats.failed == 4


async def test_fail_fast_stops_starting_runs_and_raises(runs_server: FakeGlifServer) -> None:
    bad = a_glif(runs_server)
    runs_server.failing_glifs.add(bad["id"])  # type: ignore[arg-type]
    runs_server.faults.run_latency = 0.05
    jobs = [Job(bad["id"], key=i) for i in range(40)]  # type: ignore[arg-type]
    async with make_client(runs_server) as client:
        with pytest.raises(g.RunFailedError):
            await collect(client, jobs, concurrency=3, fail_fast=True)
    assert runs_server.runs_started <= 6


async def test_the_budget_stops_new_runs(runs_server: FakeGlifServer) -> None:
    glif = a_glif(runs_server)
    jobs = [Job(glif["id"], key=i) for i in range(50)]  # type: ignore[arg-type]
    async with (
        make_client(runs_server) as client,
        dispatch(client, jobs, concurrency=2, max_credits=5) as results,
    ):
        out = [r async for r in results]
    price = out[0].price
    assert price is not None
    assert results.stats.stopped_by_budget
    assert len(out) < 50
    # Stopped within a run or two in flight of the budget.
    assert results.stats.credits >= Decimal(5) - price
    assert results.stats.credits <= Decimal(5) + 2 * price


async def test_credits_are_checked_before_starting(runs_server: FakeGlifServer) -> None:
    glif = a_glif(runs_server)
    user = runs_server.tokens[runs_server.token]  # type: ignore[index]
    runs_server.data.credits[user] = Decimal(0)
    async with make_client(runs_server) as client:
        with pytest.raises(ValueError, match="no credits"):
            await collect(client, [Job(glif["id"])], check_credits=True)  # type: ignore[arg-type]
    assert runs_server.runs_started == 0


async def test_jobs_that_cannot_match_their_glif_are_rejected_before_costing(
    runs_server: FakeGlifServer,
) -> None:
    glif = a_glif(runs_server, inputs=2)
    names = input_names(glif)
    jobs = [
        Job(glif["id"], {"not_an_input": "x"}, key="unknown-name"),  # type: ignore[arg-type]
        Job(glif["id"], ["a"] * (len(names) + 1), key="too-many"),  # type: ignore[arg-type]
        Job(glif["id"], {names[0]: "x"}, key="too-few-strict"),  # type: ignore[arg-type]
        Job("no-such-glif", {}, key="no-glif"),
    ]
    async with make_client(runs_server) as client:
        out = await collect(client, jobs, strict=True)
    assert {r.key for r in out} == {"unknown-name", "too-many", "too-few-strict", "no-glif"}  # type: ignore[attr-defined]
    assert all(isinstance(r.error, RejectedJob) for r in out)  # type: ignore[attr-defined]
    assert runs_server.runs_started == 0
    glif_reads = [r for r in runs_server.served("/api/glifs") if r.query.get("id") == glif["id"]]
    assert len(glif_reads) == 1  # the graph is read once per glif


@pytest.mark.parametrize("said_as", ["body", "status"])
async def test_the_run_cap_of_the_api(runs_server: FakeGlifServer, said_as: str) -> None:
    glif = a_glif(runs_server)
    runs_server.faults.max_concurrent_runs = 4
    runs_server.faults.run_latency = 0.05
    runs_server.faults.simple_errors = said_as  # type: ignore[assignment]
    jobs = [Job(glif["id"], key=i) for i in range(24)]  # type: ignore[arg-type]
    async with make_client(runs_server) as client:
        within = await collect(client, jobs, concurrency=4)
        assert client.stats.rate_limited == 0
    assert all(r.ok for r in within)  # type: ignore[attr-defined]
    runs_server.requests.clear()
    runs_server.runs_started = 0
    # The glif's graph is read, then runs are held until more than the cap are there: they reach
    # the server together, however slow the machine, and some must be refused.
    runs_server.gate.close_after(1)

    async def let_them_in_together() -> None:
        await until(lambda: runs_server.gate.held > 4)
        runs_server.gate.open()

    async with (
        make_client(runs_server, retry=g.RetryPolicy(attempts=20, initial=0.01, maximum=0.1)) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(let_them_in_together)
        beyond = await collect(client, jobs, concurrency=8)
        # Beyond the cap some runs are refused (a 429, or a 200 whose error says "too many
        # concurrent runs"): the run never started; retried like a 429, and they succeed.
        assert client.stats.rate_limited > 0
    refused = runs_server.served("/simple", status=429 if said_as == "status" else 200)
    assert len(refused) > (0 if said_as == "status" else 24)
    assert all(r.ok for r in beyond)  # type: ignore[attr-defined]
    assert runs_server.runs_started == 24  # each job paid once


async def test_leaving_early_does_not_hang(runs_server: FakeGlifServer) -> None:
    glif = a_glif(runs_server)
    runs_server.faults.run_latency = 0.2
    jobs = [Job(glif["id"], key=i) for i in range(50)]  # type: ignore[arg-type]
    async with make_client(runs_server) as client:
        with anyio.fail_after(60):  # against a hang only
            async with dispatch(client, jobs, concurrency=5) as results:
                async for _r in results:
                    break
    assert runs_server.runs_started < 50


async def test_async_iterables_of_jobs(runs_server: FakeGlifServer) -> None:
    glif = a_glif(runs_server)

    async def jobs():  # type: ignore[no-untyped-def]
        for i in range(5):
            await anyio.lowlevel.checkpoint()
            yield Job(glif["id"], key=i)  # type: ignore[arg-type]

    async with make_client(runs_server) as client:
        out = await collect(client, jobs())  # type: ignore[arg-type]
    assert sorted(r.key for r in out) == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]


async def test_bad_options_are_refused(runs_server: FakeGlifServer) -> None:
    client = make_client(runs_server)
    for options, message in (({"concurrency": 0}, "concurrency"), ({"max_credits": 0}, "max_credits")):
        with pytest.raises(ValueError, match=message):
            dispatch(client, [], **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("budget", [float("nan"), "NaN", "abc", "", True, float("inf"), "-Infinity", -1])
def test_a_budget_that_is_no_finite_positive_number_is_a_value_error(budget: object) -> None:
    with pytest.raises(ValueError, match="max_credits must be a finite number greater than 0"):
        dispatch(None, [], max_credits=budget)  # type: ignore[arg-type]
