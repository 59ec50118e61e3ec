"""The fake server's behaviour profile: orders, page sizes, page numbering, churn, run counts."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from aioglif.testing import PROFILES, Behaviour, FakeData, FakeGlifServer, ListRules

pytestmark = pytest.mark.anyio


async def _ids(server: FakeGlifServer, path: str) -> list[str]:
    async with aiohttp.ClientSession() as s, s.get(server.url + path) as r:
        assert r.status == 200, await r.text()
        return [x["id"] for x in await r.json()]


async def _json(server: FakeGlifServer, path: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(server.url + path) as r:
        return r.status, await r.json()


def _small() -> FakeData:
    return FakeData.generate(seed=3, users=4, glifs=40, runs=300, spheres=1)


@pytest.mark.parametrize(
    ("order", "key"),
    [
        ("oldest", lambda g: g["createdAt"]),
        ("likes", lambda g: -g["_count"]["likes"]),
    ],
)
async def test_orders_are_what_they_say(order: str, key: Any) -> None:
    async with FakeGlifServer(_small(), behaviour=Behaviour().every_list(order=order)) as server:  # type: ignore[arg-type]
        _, body = await _json(server, "/api/glifs?limit=100")
    assert [key(g) for g in body] == sorted(key(g) for g in body)


async def test_featured_and_relevance_orders() -> None:
    rules = Behaviour(featured=ListRules(order="featured"), search=ListRules(order="relevance"))
    async with FakeGlifServer(_small(), behaviour=rules) as server:
        _, featured = await _json(server, "/api/glifs?featured=1&limit=100")
        stamps = [g["featuredAt"] for g in featured]
        assert stamps == sorted(stamps, reverse=True) and stamps
        word = server.data.public_glifs[0]["name"].split()[0]
        a = await _ids(server, f"/api/glifs?q={word}&limit=100")
        assert a == await _ids(server, f"/api/glifs?q={word}&limit=100")  # stable for one query
        by_time = [g["id"] for g in server.data.public_glifs if g["id"] in set(a)]
        assert sorted(a) == sorted(by_time) and a != by_time


async def test_page_cap_zero_based_pages_and_ignored_page() -> None:
    data = _small()
    everything = [g["id"] for g in data.public_glifs]
    async with FakeGlifServer(data, behaviour=Behaviour().every_list(page_cap=7)) as server:
        assert await _ids(server, "/api/glifs?limit=100&page=2") == everything[7:14]
    async with FakeGlifServer(data, behaviour=Behaviour().every_list(first_page=0)) as server:
        assert await _ids(server, "/api/glifs?limit=5&page=0") == everything[:5]
        assert await _ids(server, "/api/glifs?limit=5&page=1") == everything[5:10]
        assert (await _json(server, "/api/glifs?page=-1"))[0] == 400
    async with FakeGlifServer(data, behaviour=Behaviour().every_list(ignore_page=True)) as server:
        assert await _ids(server, "/api/glifs?limit=5&page=3") == everything[:5]


async def test_churn_deletes_glifs_with_their_runs_and_single_runs() -> None:
    data = _small()
    rules = Behaviour(delete_glif_every=1, delete_run_every=1, insert_glif_every=2, insert_run_every=2)
    async with FakeGlifServer(data, behaviour=rules) as server:
        await _ids(server, "/api/glifs")
        await _ids(server, "/api/glifs")
        assert len(data.deleted_glifs) == 2
        gone = next(iter(data.deleted_glifs))
        assert (await _json(server, f"/api/runs?glifId={gone}"))[0] == 404
        assert await _ids(server, f"/api/glifs?id={gone}") == []
        assert not any(r["spellId"] == gone for r in data.runs)
        for glif in data.public_glifs:  # the counts follow deletions
            assert glif["completedSpellRunCount"] == len(data.runs_by_glif.get(glif["id"], []))


async def test_run_counts_missing_or_stale() -> None:
    data = _small()
    busy = max(data.public_glifs, key=lambda g: g["completedSpellRunCount"])
    async with FakeGlifServer(data, behaviour=Behaviour(run_count="missing")) as server:
        _, body = await _json(server, f"/api/glifs?id={busy['id']}")
        assert "completedSpellRunCount" not in body[0]
    async with FakeGlifServer(data, behaviour=Behaviour(run_count="stale")) as server:
        before = busy["completedSpellRunCount"]
        data.add_run(busy["id"])
        _, body = await _json(server, f"/api/glifs?id={busy['id']}")
        assert body[0]["completedSpellRunCount"] == before


async def test_behaviour_over_the_control_route_and_names() -> None:
    async with FakeGlifServer(_small()) as server:
        async with aiohttp.ClientSession() as s:
            body = {"glifs": {"order": "oldest", "page_cap": 5}}
            async with s.post(server.url + "/_fake/behaviour", json=body) as r:
                assert r.status == 200
            async with s.post(server.url + "/_fake/behaviour", json={"run_count": "maybe"}) as r:
                assert r.status == 400
        assert server.behaviour.glifs == ListRules(order="oldest", page_cap=5)
        assert len(await _ids(server, "/api/glifs?limit=100")) == 5
    assert all(isinstance(Behaviour.named(n), Behaviour) for n in PROFILES)
    with pytest.raises(ValueError, match="unknown profile"):
        Behaviour.named("nope")
    with pytest.raises(ValueError, match="first_page"):
        ListRules(first_page=2)
