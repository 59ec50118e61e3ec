"""A crawl that ended incomplete (a 401 after 3 pages) resumes its failed listings where they
stopped; bad answers are quarantined or fail one listing, and the crawl reports them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from aioglif.crawl import Crawl, Scope
from aioglif.crawl._crawler import STOP_GRACE
from aioglif.testing import Behaviour, FakeData, FakeGlifServer, Fault, MemoryWire

from .conftest import make_client, sqlite

pytestmark = pytest.mark.anyio


async def crawl(server: FakeGlifServer, path: Path, scope: Scope) -> Crawl:
    async with make_client(server) as client, Crawl(client, scope, path) as c:
        await c.run()
    return c


def count(path: Path, table: str) -> int:
    with sqlite(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_a_401_after_3_pages_then_the_same_command_resumes_at_page_4(tmp_path: Path) -> None:
    data = FakeData.generate(seed=5, users=6, glifs=420, runs=0, spheres=1)
    public = len(data.public_glifs)
    assert public > 300
    out, scope = tmp_path / "out.sqlite", Scope(all=True)
    async with FakeGlifServer(data) as server:
        # Every round of the first run meets the 401 on page 4.
        server.inject(*[Fault.answer(401)] * 3, path="/api/glifs", query={"page": "4"})
        first = await crawl(server, out, scope)
        assert first.status == "incomplete"
        assert "glifs:all" in first.stats.failures
        assert count(out, "glifs") == 300
        before = len(server.requests)
        again = await crawl(server, out, scope)
        asked = [r.query.get("page") for r in server.requests[before:] if r.path == "/api/glifs"]
    assert again.status == "complete" and again.resumed
    # From where it stopped, nothing asked twice; then the reconciliation lists the glifs again.
    resumed = asked[: next(i for i in range(1, len(asked)) if int(asked[i]) < int(asked[i - 1]))]
    assert resumed[0] == "4" and "1" not in resumed and "3" not in resumed, asked
    assert count(out, "glifs") == public


async def test_bad_records_are_quarantined_and_a_bad_page_fails_only_its_listing(tmp_path: Path) -> None:
    data = FakeData.generate(seed=5, users=6, glifs=60, runs=400, spheres=1)
    out = tmp_path / "out.sqlite"
    glifs = sorted(data.public_glifs, key=lambda g: -g["completedSpellRunCount"])
    spoiled, broken = glifs[0]["id"], glifs[1]["id"]
    async with FakeGlifServer(data) as server:
        server.inject(Fault.bad_utf8(), path="/api/runs", query={"glifId": spoiled})
        server.inject(*[Fault.deep_nesting()] * 9, path="/api/runs", query={"glifId": broken})
        c = await crawl(server, out, Scope(all=True, runs=True))
    assert c.status == "incomplete"
    assert list(c.stats.failures) == [f"runs:glif:{broken}"]
    assert c.stats.quarantined >= 1
    with sqlite(out) as db:
        (error,) = db.execute("SELECT error FROM quarantine").fetchone()
    assert "UTF-8" in error
    # Every other listing went on to the end.
    expected = sum(len(data.runs_by_glif[g["id"]]) for g in glifs[2:])
    assert count(out, "runs") >= expected


async def test_stop_is_prompt_whatever_the_server_does(tmp_path: Path) -> None:
    # A server that ignores `page` and then holds every request: stop() still ends the crawl.
    server = FakeGlifServer(
        FakeData.generate(seed=5, users=6, glifs=60, runs=400, spheres=1),
        behaviour=Behaviour().every_list(ignore_page=True),
    )
    server.gate.close_after(20)
    async with (
        make_client(server, wire=MemoryWire(server)) as client,
        Crawl(client, Scope(all=True, runs=True), tmp_path / "out.sqlite") as c,
        anyio.create_task_group() as tg,
    ):

        async def stop_when_held() -> None:
            await server.gate.wait_held()  # progress: the crawl can go no further
            c.stop()

        tg.start_soon(stop_when_held)
        # The bound is the point: without the grace, held requests wait for the read timeout.
        with anyio.fail_after(STOP_GRACE + 10):
            assert await c.run() == "interrupted"
    server.gate.open()


async def test_a_run_count_below_zero_or_an_empty_id_does_not_stop_the_crawl(
    server: FakeGlifServer, tmp_path: Path
) -> None:
    # -1 runs made the runs listing refuse its "expected" with a ValueError: the whole crawl
    # stopped (exit 2). An empty id would have listed the runs unfiltered.
    glifs = server.data.public_glifs[:3]
    page = [dict(glifs[0], completedSpellRunCount=-1), dict(glifs[1], id=""), glifs[2]]
    server.inject(Fault.answer(200, body=json.dumps(page).encode()), path="/api/glifs", query={"page": "1"})
    async with (
        make_client(server, first_page=1) as client,
        Crawl(client, Scope(all=True, runs=True), tmp_path / "out.sqlite") as c,
    ):
        await c.run()
    assert c.status == "complete"
    asked = [r.query.get("glifId") for r in server.served("/api/runs")]
    assert glifs[0]["id"] in asked and "" not in asked


async def test_an_agent_skill_with_a_blank_glif_id_does_not_stop_the_crawl(
    server: FakeGlifServer, tmp_path: Path
) -> None:
    # The blank id was followed as a glif, whose lookup refused it with a ValueError: the whole
    # crawl stopped.
    bot = dict(server.data.bots[0])
    bot["spellsForBot"] = [*bot["spellsForBot"], {"spell": {"id": "  ", "name": "blank"}, "spellId": "  "}]
    server.inject(Fault.answer(200, body=json.dumps([bot]).encode()), path="/api/bots")
    async with (
        make_client(server, first_page=1) as client,
        Crawl(client, Scope(bots=True), tmp_path / "out.sqlite") as c,
    ):
        await c.run()
    assert c.status == "complete"


async def test_data_that_trips_an_unforeseen_check_fails_one_listing_not_the_crawl(
    server: FakeGlifServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two such checks were found tripped by server data (a count of -1, a blank skill id); each
    # stopped the whole crawl. Whatever the next one is, it costs its listing, not the crawl.
    from aioglif.crawl import _crawler

    follow = _crawler.runs_to_follow
    calls: list[str] = []

    async def tripping(crawl: Crawl, glifs: list[Any]) -> list[Any]:
        # The second page of glifs trips it, every time it is read (the crawl's later rounds too).
        calls.append(glifs[0].id)
        if calls[1:] and calls[1] in {g.id for g in glifs}:
            raise ValueError("a check nobody foresaw")
        return await follow(crawl, glifs)

    monkeypatch.setattr(_crawler, "runs_to_follow", tripping)
    out = tmp_path / "out.sqlite"
    scope = Scope(all=True, runs=True)
    async with make_client(server, first_page=1) as client, Crawl(client, scope, out) as c:
        await c.run()
    assert c.status == "incomplete"
    assert list(c.stats.failures.values()) == ["unexpected data: ValueError: a check nobody foresaw"]
    assert count(out, "runs") > 0  # the other pages went on

    monkeypatch.setattr(_crawler, "runs_to_follow", follow)
    async with make_client(server, first_page=1) as client, Crawl(client, scope, out) as c:
        await c.run()
    assert c.status == "complete"
    assert count(out, "glifs") == len(server.data.public_glifs)
