"""The crawl under every way the API may page, under deletions while it runs, and against a
server that ignores ``page`` (recorded as failed, what was read kept, exit 1 with the reason)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from aioglif.crawl import Crawl, Scope
from aioglif.testing import EXACT_PROFILES, Behaviour, FakeData, FakeGlifServer

from .conftest import make_client, sqlite

pytestmark = pytest.mark.anyio


def _data(seed: int = 5) -> FakeData:
    return FakeData.generate(seed=seed, users=5, glifs=45, runs=350, spheres=1)


def ids(path: Path, table: str) -> set[str]:
    with sqlite(path) as db:
        return {r[0] for r in db.execute(f"SELECT id FROM {table}")}


async def crawl(server: FakeGlifServer, path: Path) -> Crawl:
    async with make_client(server) as client, Crawl(client, Scope(all=True, runs=True), path) as c:
        await c.run()
    return c


@pytest.mark.parametrize("profile", EXACT_PROFILES)
async def test_a_crawl_misses_nothing_under_every_profile(profile: str, tmp_path: Path) -> None:
    data = _data()
    async with FakeGlifServer(data, behaviour=Behaviour.named(profile)) as server:
        c = await crawl(server, tmp_path / "out.sqlite")
    assert c.status == "complete", c.stats.failures
    assert ids(tmp_path / "out.sqlite", "glifs") == {x["id"] for x in data.public_glifs}
    assert ids(tmp_path / "out.sqlite", "runs") == {x["id"] for x in data.public_runs}
    assert c.stats.relisted == 0  # nothing moved: the reconciliation read the glifs only


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("order", ["newest", "likes"])
async def test_deletions_during_a_crawl_miss_no_survivor(seed: int, order: str, tmp_path: Path) -> None:
    data = _data(seed)
    before_glifs = {x["id"] for x in data.public_glifs}
    before_runs = {x["id"]: x["spellId"] for x in data.public_runs}
    churn = replace(
        Behaviour().every_list(order=order, page_cap=20),  # type: ignore[arg-type]
        delete_glif_every=9,
        delete_run_every=2,
        insert_glif_every=7,
        insert_run_every=3,
        seed=seed,
    )
    async with FakeGlifServer(data, behaviour=churn) as server:
        c = await crawl(server, tmp_path / "out.sqlite")
    assert data.deleted_glifs and data.deleted_runs, "the test should delete while crawling"
    survivors = before_glifs - data.deleted_glifs
    runs_survived = {
        r for r, glif in before_runs.items() if r not in data.deleted_runs and glif not in data.deleted_glifs
    }
    assert c.status == "complete", c.stats.failures
    assert survivors <= ids(tmp_path / "out.sqlite", "glifs")
    assert runs_survived <= ids(tmp_path / "out.sqlite", "runs")
    assert c.summary()["gone"] == c.stats.gone


class _DeletesOnFirstRuns(FakeGlifServer):
    """Deletes one glif (with its runs) when the first runs listing request arrives: after
    the crawl has read the glif and its count, before it lists that glif's runs."""

    victim = ""

    async def _runs(self, request: web.Request) -> web.Response:
        if self.victim not in self.data.deleted_glifs:
            self.data.delete_glif(self.victim)
        return await super()._runs(request)


async def test_runs_of_a_glif_deleted_mid_crawl_are_gone_not_failed(tmp_path: Path) -> None:
    data = _data()
    victim = max(data.public_glifs, key=lambda x: x["completedSpellRunCount"])
    server = _DeletesOnFirstRuns(data)
    server.victim = victim["id"]
    async with server:
        c = await crawl(server, tmp_path / "out.sqlite")
    assert c.status == "complete", c.stats.failures
    assert c.stats.gone == 1 and c.summary()["gone"] == 1
    stored = ids(tmp_path / "out.sqlite", "runs")
    assert {r["id"] for r in data.public_runs} <= stored


async def test_a_server_ignoring_page_fails_the_crawl_with_its_reason(tmp_path: Path) -> None:
    ignoring = Behaviour().every_list(ignore_page=True)
    out = tmp_path / "out.sqlite"
    async with FakeGlifServer(_data(), behaviour=ignoring) as server:
        args = ["--api-url", server.api_url, "--token", server.token, "crawl", "--out", str(out)]
        done = await anyio.run_process(
            [sys.executable, "-m", "aioglif", *args, "--progress", "none"], check=False
        )
    text = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 1, text
    assert "ignores 'page'" in text
    assert len(ids(out, "glifs")) > 0  # what was read is kept


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("order", ["newest", "likes"])
async def test_a_glifs_only_crawl_misses_no_survivor(seed: int, order: str, tmp_path: Path) -> None:
    # Without runs there are no run counts to compare: the glifs are listed again until a
    # listing sees the same glifs as the one before it.
    data = FakeData.generate(seed=seed, users=8, glifs=300, runs=300, spheres=1)
    before = {x["id"] for x in data.public_glifs}
    churn = replace(
        Behaviour().every_list(order=order, page_cap=20),  # type: ignore[arg-type]
        delete_glif_every=3,
        seed=seed,
    )
    out = tmp_path / "out.sqlite"
    server = FakeGlifServer(data, behaviour=churn)
    async with server, make_client(server) as client, Crawl(client, Scope(all=True), out) as c:
        await c.run()
    assert data.deleted_glifs & before, "the test should delete listed glifs while crawling"
    assert c.status == "complete", c.stats.failures
    assert before - data.deleted_glifs <= ids(out, "glifs")


async def test_a_glifs_only_crawl_without_churn_lists_the_glifs_twice(tmp_path: Path) -> None:
    data = _data()
    async with FakeGlifServer(data) as server:
        async with make_client(server) as client, Crawl(client, Scope(all=True), tmp_path / "o.sqlite") as c:
            await c.run()
        pages = [r.query.get("page") for r in server.requests if r.path.endswith("/glifs")]
    assert c.status == "complete"
    assert ids(tmp_path / "o.sqlite", "glifs") == {x["id"] for x in data.public_glifs}
    # Nothing moved: one listing more, the same pages again, and no runs asked for.
    listing = [p for p in pages if p != "0"]  # "0": the client's probe of the page numbering
    assert len(listing) % 2 == 0 and listing[: len(listing) // 2] == listing[len(listing) // 2 :], pages
    assert not [r for r in server.requests if r.path.endswith("/runs")]


class _LikesMove(FakeGlifServer):
    """A list by likes whose likes change while it is read: glifs jump between pages."""

    def _churn(self) -> None:
        super()._churn()
        for glif in self._moving.sample(self.data.public_glifs, k=3):
            glif["_count"]["likes"] += self._moving.randint(50, 500)
        self.data.version += 1
        self.moves += 1

    moves = 0


@pytest.mark.parametrize("seed", [4, 5])
async def test_a_crawl_by_likes_misses_no_glif_whose_likes_move(seed: int, tmp_path: Path) -> None:
    # A plain listing can miss glifs that jump pages (README); the crawl lists again until two
    # listings agree.
    import random

    data = FakeData.generate(seed=seed, users=8, glifs=600, runs=200, spheres=0)
    before = {x["id"] for x in data.public_glifs}
    # An insertion never due: churn on, so the server's churn hook runs before every listing request.
    moving = replace(Behaviour().every_list(order="likes", page_cap=20), insert_run_every=10**9)
    server = _LikesMove(data, behaviour=moving)
    server._moving = random.Random(seed)  # type: ignore[attr-defined]
    out = tmp_path / "out.sqlite"
    async with server, make_client(server) as client, Crawl(client, Scope(all=True), out) as c:
        await c.run()
    assert server.moves >= 20, "likes should move while the glifs are listed"
    assert c.status == "complete"
    assert before <= ids(out, "glifs")
