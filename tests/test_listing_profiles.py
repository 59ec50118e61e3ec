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
