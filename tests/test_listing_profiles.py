"""Listings stay exact under every way the API may page: any order, a served page size below
the one asked, pages counted from 0, a server ignoring ``page`` (a typed error, quickly)."""

from __future__ import annotations

import pytest

import aioglif as g
from aioglif.testing import EXACT_PROFILES, Behaviour, FakeData, FakeGlifServer

from .conftest import make_client

pytestmark = pytest.mark.anyio


def _data() -> FakeData:
    return FakeData.generate(seed=11, users=4, glifs=70, runs=400, spheres=2)


@pytest.mark.parametrize("profile", EXACT_PROFILES)
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_every_listing_is_exact_under_every_profile(profile: str, concurrency: int) -> None:
    data = _data()
    async with (
        FakeGlifServer(data, behaviour=Behaviour.named(profile)) as server,
        make_client(server) as client,
    ):
        glifs = [x.id async for x in client.glifs(page_size=10, concurrency=concurrency)]
        assert sorted(glifs) == sorted(x["id"] for x in data.public_glifs)
        assert len(glifs) == len(set(glifs))
        featured = [x.id async for x in client.glifs(featured=True, page_size=3, concurrency=concurrency)]
        assert sorted(featured) == sorted(x["id"] for x in data.featured_glifs)
        busy = max(data.public_glifs, key=lambda x: x["completedSpellRunCount"])
        want = sorted(r["id"] for r in data.runs_by_glif[busy["id"]])
        for expected in (None, busy["completedSpellRunCount"]):
            listing = client.runs(glif_id=busy["id"], page_size=8, concurrency=concurrency, expected=expected)
            runs = [x.id async for x in listing]
            assert sorted(runs) == want, (expected, listing.stats)
        sphere = max(data.spheres, key=lambda s: len(s["glifIds"]))
        members = [x.id async for x in client.sphere_glifs(slug=sphere["slug"], page_size=4)]
        assert sorted(members) == sorted(sphere["glifIds"])


@pytest.mark.parametrize("first_page", [0, 1])
async def test_a_server_ignoring_page_ends_the_listing_within_two_extra_requests(first_page: int) -> None:
    behaviour = Behaviour().every_list(ignore_page=True, first_page=first_page)
    async with FakeGlifServer(_data(), behaviour=behaviour) as server, make_client(server) as client:
        listing = client.glifs(page_size=10, concurrency=8)
        with pytest.raises(g.PageIgnoredError, match="ignores 'page'"):
            await listing.collect()
        # Page 0 (where do pages start?), page 1 (the same: from 1, or page is ignored),
        # page 2 (the same again): two requests past the one page that can be read.
        assert listing.stats.requests <= 3
        assert client.listing_facts["/glifs"].ignores_page
        again = client.glifs(page_size=10)
        with pytest.raises(g.PageIgnoredError, match="found earlier"):
            await again.collect()
        assert again.stats.requests == 1
        # A list that fits on one page is still listed whole.
        user = next(iter(server.data.users.values()))
        mine = await client.glifs(username=user["username"]).collect()
        assert {x.id for x in mine} == {x["id"] for x in server.data.glifs_by_user[user["id"]]}


async def test_a_server_ignoring_page_with_a_known_first_page_costs_two_extra_requests() -> None:
    ignoring = Behaviour().every_list(ignore_page=True)
    async with (
        FakeGlifServer(_data(), behaviour=ignoring) as server,
        make_client(server, first_page=1) as client,
    ):
        listing = client.glifs(page_size=10, concurrency=8)
        with pytest.raises(g.PageIgnoredError):
            await listing.collect()
    assert len(server.requests) <= 3


async def test_the_served_page_size_is_learned_once_per_path() -> None:
    capped = Behaviour().every_list(page_cap=20)
    async with FakeGlifServer(_data(), behaviour=capped) as server, make_client(server) as client:
        first = client.glifs()
        assert len(await first.collect()) == len(server.data.public_glifs)
        facts = client.listing_facts["/glifs"]
        assert facts.cap == 20 and facts.first_page == 1
        server.requests.clear()
        second = client.glifs(concurrency=1)
        await second.collect()
        # Asked at the size served from the start: 4 pages of 20 hold the 67 glifs.
        assert [r.query["limit"] for r in server.requests] == ["20"] * 4
        assert second.stats.probe_requests == 0


async def test_not_newest_first_makes_the_memory_exact() -> None:
    likes = Behaviour().every_list(order="likes")
    async with FakeGlifServer(_data(), behaviour=likes) as server, make_client(server) as client:
        listing = client.glifs(page_size=5, concurrency=1)
        await listing.collect()
        assert listing.stats.exact_ids and listing.stats.verify_requests == 0
        newest = client.runs(page_size=5, max_items=40)
        await newest.collect()
    async with FakeGlifServer(_data()) as server, make_client(server) as client:
        listing = client.glifs(page_size=5, concurrency=1)
        await listing.collect()
        assert not listing.stats.exact_ids


def test_the_exact_id_memory_holds_what_was_added_and_nothing_else() -> None:
    from aioglif._consistency import IdSet

    ids = IdSet()
    added = [f"run{i:06d}" for i in range(5000)]
    ids.update(added[:3000])
    for key in added[3000:]:
        ids.add(key)
    assert all(k in ids for k in added)
    assert not any(f"other{i}" in ids for i in range(5000))
    assert len(ids) == 5000


@pytest.mark.parametrize("profile", ["default", "page-zero"])
async def test_first_page_is_the_first_page_wherever_pages_start(profile: str) -> None:
    data = _data()
    async with (
        FakeGlifServer(data, behaviour=Behaviour.named(profile)) as server,
        make_client(server) as client,
    ):
        page = await client.glifs(page_size=10).first_page()
        assert [x.id for x in page.items] == [x["id"] for x in data.public_glifs[:10]]
        assert page.has_more


def _exactly(public: int) -> FakeData:
    data = FakeData.generate(seed=11, users=4, glifs=public + 20, runs=50, spheres=1)
    for extra in [x["id"] for x in data.public_glifs[public:]]:
        data.delete_glif(extra)
    assert len(data.public_glifs) == public
    return data


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("order", ["newest", "likes"])
async def test_a_clamping_server_ends_a_list_of_whole_pages(concurrency: int, order: str) -> None:
    # Page 3 of 2 answers page 2 again: the end, not a server that ignores ``page``.
    data = _exactly(40)
    clamps = Behaviour().every_list(clamp_past_end=True, order=order)  # type: ignore[arg-type]
    async with FakeGlifServer(data, behaviour=clamps) as server, make_client(server) as client:
        listing = client.glifs(page_size=20, concurrency=concurrency)
        glifs = [x.id for x in await listing.collect()]
        assert sorted(glifs) == sorted(x["id"] for x in data.public_glifs)
        assert not client.listing_facts["/glifs"].ignores_page
    async with FakeGlifServer(data) as server, make_client(server) as client:
        plain = client.glifs(page_size=20, concurrency=concurrency)
        await plain.collect()
    # No dearer than the same listing where a page past the end is empty (one request more at most).
    assert listing.stats.requests <= plain.stats.requests + 1, (listing.stats, plain.stats)


async def test_a_server_clamping_a_one_page_list_reads_as_ignoring_page() -> None:
    # No distinct second page was ever seen: page 2 repeating page 1 cannot be told from a
    # server that ignores ``page``; the error says so rather than guess.
    data = _exactly(20)
    clamps = Behaviour().every_list(clamp_past_end=True)
    async with FakeGlifServer(data, behaviour=clamps) as server, make_client(server) as client:
        with pytest.raises(g.PageIgnoredError, match="page 2 repeats the items of page 1"):
            await client.glifs(page_size=20).collect()


@pytest.mark.parametrize(
    ("status", "body"),
    # A 200 saying so in its body (the Simple API's documented style) refuses page 0 too: it
    # failed every first listing of a path, where page 1 would have served it.
    [(500, None), (404, None), (200, b'{"error": "page must be >= 1"}'), (200, b"null")],
)
async def test_a_refused_page_zero_is_asked_once(status: int, body: bytes | None) -> None:
    from aioglif.testing import Fault

    async with FakeGlifServer(_data()) as server, make_client(server) as client:
        server.inject(*[Fault.answer(status, body=body)] * 5, path="/api/glifs", query={"page": "0"})
        glifs = await client.glifs(page_size=100).collect()
        zero = [r for r in server.requests if r.query.get("page") == "0"]
    assert len(zero) == 1 and client.listing_facts["/glifs"].first_page == 1
    assert sorted(x.id for x in glifs) == sorted(x["id"] for x in server.data.public_glifs)


@pytest.mark.parametrize("body", [b'{"error": "page must be >= 1"}', b"null", b"{}"])
async def test_first_page_takes_a_200_saying_no_page_zero_as_pages_from_one(body: bytes) -> None:
    # ``first_page()`` reads such an answer as a listing does: a refusal, not a failure.
    from aioglif.testing import Fault

    async with FakeGlifServer(_data()) as server, make_client(server) as client:
        server.inject(*[Fault.answer(200, body=body)] * 5, path="/api/glifs", query={"page": "0"})
        page = await client.glifs(page_size=10).first_page()
        zero = [r for r in server.requests if r.query.get("page") == "0"]
    assert page.number == 1 and len(page.items) == 10
    assert len(zero) == 1 and client.listing_facts["/glifs"].first_page == 1


async def test_a_rate_limited_page_zero_is_asked_again_not_taken_for_no() -> None:
    from aioglif.testing import Fault

    behaviour = Behaviour().every_list(first_page=0)
    async with FakeGlifServer(_data(), behaviour=behaviour) as server, make_client(server) as client:
        server.inject(Fault.answer(429), path="/api/glifs", query={"page": "0"})
        glifs = await client.glifs(page_size=10).collect()
    assert client.listing_facts["/glifs"].first_page == 0
    assert sorted(x.id for x in glifs) == sorted(x["id"] for x in server.data.public_glifs)


async def test_a_listing_of_one_short_page_counts_and_notes_as_a_longer_one_does() -> None:
    # The one-page listing skips the many-page state (most listings of a glif's runs): what it
    # counts and notes must not differ from what that state would.
    likes = Behaviour().every_list(order="likes")
    async with FakeGlifServer(_data(), behaviour=likes) as server, make_client(server) as client:
        await client.glifs(page_size=50).first_page()  # pages of 50 are served in full
        user = next(iter(server.data.users.values()))["username"]
        everything = await client.glifs(username=user, page_size=50).collect()
        assert 1 < len(everything) < 50
        server.requests.clear()
        one = client.glifs(username=user, page_size=50)
        assert [x.id async for x in one] == [x.id for x in everything]
        assert len(server.requests) == 1
        assert one.stats.exact_ids  # liked-first is no newest-first order: ids kept exactly
        assert (one.stats.pages, one.stats.items, one.stats.requests) == (1, len(everything), 1)
        capped = client.glifs(username=user, page_size=50, max_items=1)
        pages = [p async for p in capped.pages()]
        assert [(len(p.items), p.number, p.has_more) for p in pages] == [(1, 1, False)]
        assert (capped.stats.pages, capped.stats.items) == (1, 1)
        nobody = client.glifs(username="nobody-has-this-name", page_size=50)
        assert [p async for p in nobody.pages()] == []
        assert (nobody.stats.pages, nobody.stats.items, nobody.stats.requests) == (1, 0, 1)
        assert nobody.in_flight == 0


def test_a_page_judged_at_once_has_no_repeat_only_where_each_item_judged_alone_has_none() -> None:
    """The listing asks once a page whether any item is a repeat (in C); when it says none,
    asking item by item must say none too, whatever the memory holds: dates missing, equal
    to the mark, newer than it, ids remembered exactly."""
    import random
    from datetime import datetime, timedelta

    from aioglif._consistency import Seen

    rng = random.Random(7)
    t0 = datetime(2026, 1, 1)
    said_none = 0
    for _ in range(400):
        seen = Seen(first=1, keep=rng.choice([0, 1, 2]))
        pool = [f"id{i}" for i in range(60)]
        for number in range(1, rng.randint(1, 5)):
            keys = rng.sample(pool, rng.randint(0, 8))
            stamps = [
                None if rng.random() < 0.15 else t0 + timedelta(seconds=rng.randint(0, 20)) for _ in keys
            ]
            seen.add_page(number, keys, stamps)
        if rng.random() < 0.2:
            seen.make_exact()
        keys = rng.sample(pool, rng.randint(0, 8))
        stamps = [None if rng.random() < 0.15 else t0 + timedelta(seconds=rng.randint(0, 20)) for _ in keys]
        if seen.none_of(keys, stamps):
            said_none += 1
            assert not any(seen.contains(k, c) for k, c in zip(keys, stamps, strict=True))
    assert said_none > 50  # the check was asked of many pages it could answer at once


def test_an_empty_created_at_is_a_date_to_the_order_check_as_to_the_memory() -> None:
    # Only a missing createdAt (None) is no evidence; "" sorts before every date, as it did.
    from aioglif._consistency import newest_first

    assert not newest_first(["b", "", "a"])
    assert newest_first(["b", None, "a"])
    assert not newest_first([None, "a"], after="")


def test_listing_counters_are_made_with_or_without_values() -> None:
    from aioglif.pagination import ListingStats

    assert ListingStats(pages=2, items=7).snapshot()["items"] == 7
    assert ListingStats() == ListingStats(pages=0)
    with pytest.raises(TypeError, match="nope"):
        ListingStats(nope=1)
