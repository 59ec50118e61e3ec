"""The concurrent paginator: order, look-ahead, planning, early exits, errors, and insertions."""

from __future__ import annotations

import asyncio
import math

import anyio
import pytest

import aioglif as g
from aioglif.testing import Behaviour, FakeData, FakeGlifServer, Fault, MemoryWire

from .conftest import make_client, until

pytestmark = pytest.mark.anyio


def page_requests(server: FakeGlifServer, path: str = "/api/glifs") -> list[int]:
    return [int(r.query["page"]) for r in server.served(path) if "page" in r.query]


async def test_concurrent_listing_keeps_page_order(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.faults.latency_jitter = 0.03  # answers come back out of order
    listing = client.glifs(page_size=7, concurrency=6)
    ids = [x.id async for x in listing]
    assert ids == [x["id"] for x in server.data.public_glifs]
    pages = math.ceil(len(ids) / 7)
    assert listing.stats.pages == pages
    assert listing.stats.items == len(ids)
    assert listing.stats.duplicates == 0
    # At most a window of pages past the end, plus the head read that checks for insertions.
    assert pages <= listing.stats.requests <= pages + 6 + 1


async def test_window_widens_to_the_concurrency_setting(server: FakeGlifServer) -> None:
    server.faults.latency = 0.05
    async with make_client(server, max_in_flight=16) as client:
        await client.glifs(page_size=5, concurrency=4).collect()
    assert server.peak_in_flight == 4


async def test_a_small_listing_costs_one_request_once_the_server_is_known(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    user = next(iter(server.data.users.values()))
    listing = client.glifs(username=user["username"])
    assert 0 < len(await listing.collect()) < 100
    # A fresh client asks for page 0 (where do pages start?) and, as the short page 1 may be
    # all the server serves a page, for page 2 at that size.
    assert page_requests(server) == [0, 1, 2]
    assert listing.stats.probe_requests == 2
    await client.glifs().first_page()  # a full page of 100: pages of 100 are served in full
    server.requests.clear()
    again = client.glifs(username=user["username"])
    assert 0 < len(await again.collect()) < 100
    assert again.stats.requests == 1
    assert len(server.requests) == 1


async def test_expected_plans_the_pages_exactly(client: g.GlifClient, server: FakeGlifServer) -> None:
    counts = {x["id"]: x["completedSpellRunCount"] for x in server.data.public_glifs}
    busy = max(counts, key=counts.__getitem__)
    n = counts[busy]
    assert n % 10, "the dataset should give a count that is not a multiple of the page size"
    listing = client.runs(glif_id=busy, expected=n, page_size=10, concurrency=8)
    runs = await listing.collect()
    assert len(runs) == n
    planned = math.ceil(n / 10)
    # Page 0 once (refused: pages count from 1), every planned page once, nothing past the
    # end, and one head read (the pages overlapped).
    assert sorted(page_requests(server, "/api/runs")) == [0, 1, *range(1, planned + 1)]
    assert listing.stats.wasted == 0
    assert listing.stats.verify_requests == 1


async def test_expected_zero_sends_nothing(client: g.GlifClient, server: FakeGlifServer) -> None:
    idle = next(x for x in server.data.public_glifs if x["completedSpellRunCount"] == 0)
    assert await client.runs(glif_id=idle["id"], expected=0).collect() == []
    assert server.requests == []


async def test_nothing_past_a_short_page_is_requested_afterwards(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    server.faults.latency = 0.02
    listing = client.glifs(page_size=10, concurrency=8)
    await listing.collect()
    last = math.ceil(len(server.data.public_glifs) / 10)
    past = [p for p in page_requests(server) if p > last]
    assert len(past) <= 8
    assert listing.stats.wasted == len(past)


async def test_unordered_yields_every_page_once(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.faults.latency_jitter = 0.03
    listing = client.glifs(page_size=9, concurrency=5, ordered=False)
    pages = [p async for p in listing.pages()]
    assert sorted(x.id for p in pages for x in p.items) == sorted(x["id"] for x in server.data.public_glifs)
    assert sorted(p.number for p in pages) == list(range(1, len(pages) + 1))
    assert [p.has_more for p in pages][-1] is False


async def test_a_slow_consumer_holds_back_the_fetching(client: g.GlifClient, server: FakeGlifServer) -> None:
    async for page in client.glifs(page_size=5, concurrency=3).pages():
        await anyio.sleep(0.02)
        requested = set(page_requests(server))
        # Pages in flight or waiting for the consumer: at most twice the window ahead.
        assert max(requested) <= page.number + 2 * 3
        if page.number == 10:
            break


async def test_breaking_out_cancels_in_flight_pages_and_leaves_no_task(server: FakeGlifServer) -> None:
    # In memory, a request sent is a request the server has: none is still on its way.
    server.gate.close_after(2)  # page 0 (where pages start) and page 1; what follows is held
    async with make_client(server, wire=MemoryWire(server)) as client:
        listing = client.glifs(page_size=5, concurrency=8)
        async for _glif in listing:
            await until(lambda: server.gate.held == 2)  # pages 2 and 3 are now in flight
            assert listing.in_flight == 2
            break
        for _ in range(20):  # asyncio's finaliser closes the abandoned generator on the next turns
            await asyncio.sleep(0)
        assert listing.in_flight == 0
        assert server.gate.held == 0  # the held requests were cancelled
        await asyncio.sleep(0.2)  # a grace period for a leaked task to send more: none may
        assert server.gate.arrived == 4  # page 0, and pages 1 to 3
    server.gate.open()


async def test_cancelling_a_listing_stops_it(server: FakeGlifServer) -> None:
    server.gate.close_after(10)  # cancelled in the middle: after 10 requests, with more waiting
    async with make_client(server, wire=MemoryWire(server)) as client:
        listing = client.glifs(page_size=5, concurrency=4)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_when_held() -> None:
                    await until(lambda: server.gate.held > 0)
                    scope.cancel()

                tg.start_soon(cancel_when_held)
                await listing.collect()
        assert scope.cancelled_caught
        assert listing.in_flight == 0
        sent = server.gate.arrived
        assert sent > 10
        await asyncio.sleep(0.2)  # a grace period for a leaked task to send more: none may
        assert server.gate.arrived == sent, "requests went on after the listing was cancelled"
    server.gate.open()


async def test_an_error_on_one_page_is_raised_and_stops_the_rest(server: FakeGlifServer) -> None:
    server.faults.latency = 0.05
    server.inject(Fault.answer(404), path="/api/glifs", query={"page": "3"})
    seen = []
    # No page 0 asked for: the window alone counts. In memory: no request is still on its way.
    client = make_client(server, first_page=1, wire=MemoryWire(server))
    await client.__aenter__()
    listing = client.glifs(page_size=5, concurrency=4)

    async def consume() -> None:
        async for page in listing.pages():
            seen.append(page.number)

    with pytest.raises(g.NotFoundError):
        await consume()
    assert seen == [1, 2]  # pages before the failed one, in order; none after it
    assert listing.in_flight == 0  # gone before the error reached us
    sent = len(server.requests)
    await asyncio.sleep(0.2)  # a grace period for a leaked task to send more: none may
    assert len(server.requests) == sent  # nothing sent after the error
    # At most the window past the failed page: how many of those were sent before its answer
    # was read depends on how the answers interleave, not on the paginator.
    assert max(page_requests(server)) <= 3 + 4
    await client.aclose()


async def test_errors_are_raised_after_the_retries(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.inject(*[Fault.answer(503)] * 4, path="/api/glifs", query={"page": "2"})
    listing = client.glifs(page_size=10, concurrency=1)
    with pytest.raises(g.ServerError):
        await listing.collect()
    assert listing.stats.retries == 3


async def test_statistics_count_requests_retries_429s_and_bytes(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    # On page 1, a read: the page-0 question is asked once, not retried.
    faults = (Fault.answer(429, retry_after=0), Fault.answer(502))
    server.inject(*faults, path="/api/glifs", query={"page": "1"})
    listing = client.glifs(page_size=50, concurrency=1)
    await listing.collect()
    s = listing.stats
    assert s.rate_limited == 1
    assert s.retries == 2
    assert s.requests == len(server.served("/api/glifs"))
    assert s.bytes_received > 0
    assert client.stats.requests >= s.requests


async def test_a_server_that_ignores_page_does_not_loop(server: FakeGlifServer) -> None:
    server.sphere_shape = "object"  # a sphere object holding its glifs, whatever the page
    want = max(server.data.spheres, key=lambda s: len(s["glifIds"]))
    async with make_client(server) as client:
        glifs = await client.sphere_glifs(slug=want["slug"], page_size=5, concurrency=1).collect()
    assert [x.id for x in glifs] == want["glifIds"]


# --- insertions at the head while a listing runs -------------------------------------------


async def _listing_with_inserts(
    server: FakeGlifServer, *, verify: bool, count: int
) -> tuple[list[str], list[str]]:
    """List glifs (page size 10, three pages at once); ``count`` glifs are inserted once page 3
    has been answered and before page 2 is: the order is set by events, not by time."""
    before = [x["id"] for x in server.data.public_glifs]
    inserted = asyncio.Event()
    server.inject(Fault.hold(inserted), path="/api/glifs", query={"page": "2"})

    async def insert() -> None:
        await until(lambda: any(r.query.get("page") == "3" and r.status == 200 for r in server.requests))
        for _ in range(count):
            server.data.add_glif()
        inserted.set()

    # Pages counted from 1, known: no page 0 first, so the insertion lands where it is aimed.
    async with make_client(server, first_page=1) as client, anyio.create_task_group() as tg:
        tg.start_soon(insert)
        listing = client.glifs(page_size=10, concurrency=3)
        listing.verify = verify
        ids = [x.id async for x in listing]
    return before, ids


async def test_concurrent_paging_without_verification_really_skips() -> None:
    # The failure the verification exists for: page 3 answered first, page 2 after two
    # insertions: the two items pushed from page 2 onto page 3 are in neither answer.
    async with FakeGlifServer(FakeData.generate(seed=2, users=3, glifs=60, runs=0, spheres=0)) as server:
        before, ids = await _listing_with_inserts(server, verify=False, count=2)
    missing = set(before) - set(ids)
    assert len(missing) == 2


async def test_insertions_during_a_listing_lose_and_repeat_nothing() -> None:
    async with FakeGlifServer(FakeData.generate(seed=2, users=3, glifs=60, runs=0, spheres=0)) as server:
        before, ids = await _listing_with_inserts(server, verify=True, count=2)
    assert len(ids) == len(set(ids)), "an item was yielded twice"
    assert set(before) <= set(ids), f"skipped: {set(before) - set(ids)}"


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("profile", ["default", "page-cap-7", "page-zero"])
async def test_random_insertions_under_reordering_lose_and_repeat_nothing(seed: int, profile: str) -> None:
    # The insertion repair holds on newest-first lists, whatever size pages are served in and
    # wherever their numbers start.
    data = FakeData.generate(seed=seed, users=4, glifs=250, runs=0, spheres=0)
    async with FakeGlifServer(data, behaviour=Behaviour.named(profile)) as server:
        server.faults.latency_jitter = 0.04
        server.faults.seed = seed
        before = [x["id"] for x in data.public_glifs]

        async def churn() -> None:
            for _ in range(30):
                await anyio.sleep(0.005)
                data.add_glif()

        async with make_client(server) as client, anyio.create_task_group() as tg:
            tg.start_soon(churn)
            listing = client.glifs(page_size=10, concurrency=8)
            ids = [x.id async for x in listing]
    assert len(ids) == len(set(ids)), "an item was yielded twice"
    assert set(before) <= set(ids), f"skipped: {set(before) - set(ids)}"


async def test_verification_costs_nothing_when_the_list_did_not_change(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    server.faults.latency_jitter = 0.02
    listing = client.glifs(page_size=10, concurrency=8)
    await listing.collect()
    assert listing.stats.verify_requests == 1  # the head read, nothing re-read
    assert listing.stats.recovered == 0
    sequential = client.glifs(page_size=10, concurrency=1)
    await sequential.collect()
    assert sequential.stats.verify_requests == 0  # no overlap, no possible gap


async def test_a_listing_of_a_closed_client_fails_clearly(server: FakeGlifServer) -> None:
    async with make_client(server) as client:
        listing = client.glifs()
    with anyio.fail_after(30), pytest.raises(RuntimeError, match="closed"):  # against a hang only
        await listing.collect()
    assert listing.in_flight == 0


async def test_closing_the_client_mid_listing_ends_the_listing(server: FakeGlifServer) -> None:
    server.gate.close_after(2)  # page 0 (where pages start) and page 1; what follows is held
    client = make_client(server)
    await client.__aenter__()
    listing = client.glifs(page_size=5, concurrency=4)
    pages = listing.pages()
    await pages.__anext__()  # page 1 arrived
    await until(lambda: server.gate.held == 2)  # pages 2 and 3 are in flight, held
    assert listing.in_flight == 2
    await client.aclose()
    with anyio.fail_after(30), pytest.raises(RuntimeError, match="closed"):  # against a hang only
        await pages.__anext__()
    await pages.aclose()
    assert listing.in_flight == 0
    server.gate.open()


def test_merging_counters_adds_every_field() -> None:
    from dataclasses import fields

    from aioglif._page import merge
    from aioglif._stats import Stats

    part = Stats(**{f.name: i + 1 for i, f in enumerate(fields(Stats))})
    into = Stats(**{f.name: 10 for f in fields(Stats)})
    merge(into, part)
    assert [getattr(into, f.name) for f in fields(Stats)] == [10 + i + 1 for i in range(len(fields(Stats)))]
