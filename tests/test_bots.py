"""Agents (``/api/bots``): the protocol's query, the model, the client, the command line and the
crawler."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import msgspec
import pytest

from aioglif import Bot, GlifClient, NotFoundError
from aioglif import _listings as listings
from aioglif._protocol import bots_query
from aioglif.cli import main
from aioglif.crawl import Crawl, Scope, Store
from aioglif.crawl._export import export_jsonl
from aioglif.testing import FakeData, FakeGlifServer, Fault
from aioglif.testing._bots import public_bot, select_bots

from .conftest import make_client, sqlite


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_bots_query_is_what_the_official_client_sends() -> None:
    assert bots_query(None, None, None) == {}
    assert bots_query("featured", "wizard", "ann") == {
        "sort": "featured",
        "searchQuery": "wizard",
        "creator": "ann",
    }
    for bad in ({"sort": "oldest"}, {"query": " "}, {"creator": ""}):
        args = {"sort": None, "query": None, "creator": None, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            bots_query(**args)


def test_a_bot_decodes_leniently() -> None:
    body = {
        "id": "b1",
        "name": "B",
        "username": "b",
        "createdAt": "last tuesday",  # the official schema accepts any string for its dates
        "messageCount": 12.0,
        "spellsForBot": [
            {"spell": {"id": "g1", "name": "Glif one", "extra": 1}, "customName": "One"},
            {"spell": {"id": "g2", "name": "Glif two"}, "spellId": "g2"},
            {"spell": {"id": "g1", "name": "Glif one"}},
        ],
        "somethingNew": {"x": 1},
    }
    bot = msgspec.json.decode(json.dumps(body), type=Bot)
    assert bot.glif_ids == ["g1", "g2"]
    assert [s.display_name for s in bot.skills] == ["One", "Glif two", "Glif one"]
    assert bot.created_at == "last tuesday"
    bare = msgspec.json.decode(b'{"id": "b2", "spellsForBot": null}', type=Bot)
    assert bare.skills == []
    assert bare.glif_ids == []


@pytest.mark.anyio
async def test_bots_lists_each_sort_search_and_creator(server: FakeGlifServer, client: GlifClient) -> None:
    bots = server.data.bots
    expected_default = select_bots(bots, sort=server.bots_default_sort)
    assert [b.id for b in await client.bots()] == [b["id"] for b in expected_default]
    for sort in ("new", "popular", "featured"):
        got = await client.bots(sort=sort)
        assert [b.id for b in got] == [b["id"] for b in select_bots(bots, sort=sort)]
    creator = bots[0]["user"]["username"]
    mine = await client.bots(creator=creator, sort="new")
    assert mine and {b.user.username for b in mine if b.user} == {creator}
    word = bots[0]["name"].split()[0]
    assert bots[0]["id"] in [b.id for b in await client.bots(query=word)]
    # One request per call, and never a page or a limit: the endpoint is not known to page.
    sent = server.served("/api/bots")
    assert len(sent) == 6
    assert not any({"page", "limit"} & set(r.query) for r in sent)


@pytest.mark.anyio
async def test_get_bot_with_its_skills_and_not_found(server: FakeGlifServer, client: GlifClient) -> None:
    raw = next(b for b in server.data.bots if b["spellsForBot"])
    bot = await client.get_bot(raw["id"])
    assert msgspec.to_builtins(bot) == _without_nulls(public_bot(raw))  # every key kept
    assert bot.glif_ids == [s["spell"]["id"] for s in raw["spellsForBot"]]
    with pytest.raises(NotFoundError):
        await client.get_bot("nope")  # the fake answers 404
    for body in (b"[]", b"null", b"{}"):  # other ways a server may say "no such bot"
        server.inject(Fault.answer(200, body=body), path="/api/bots")
        with pytest.raises(NotFoundError):
            await client.get_bot(raw["id"])


@pytest.mark.anyio
async def test_bad_bot_arguments_raise_before_any_request(server: FakeGlifServer, client: GlifClient) -> None:
    with pytest.raises(ValueError, match="sort"):
        await client.bots(sort="newest")
    with pytest.raises(ValueError, match="bot id"):
        await client.get_bot("")
    assert server.served("/api/bots") == []


@pytest.mark.anyio
async def test_cli_list_bots_and_get_bot(server: FakeGlifServer, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--api-url", server.api_url, "--token", server.token]

    async def cli(*argv: str) -> int:
        # The command line runs its own event loop: in a thread, while this loop serves.
        return await anyio.to_thread.run_sync(main, [*flags, *argv])

    assert await cli("--json", "list", "bots", "--sort", "new", "--limit", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [b["id"] for b in server.data.bots[:3]]
    creator = server.data.bots[0]["user"]["username"]
    assert await cli("--json", "list", "bots", "--user", creator) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and {json.loads(line)["user"]["username"] for line in lines} == {creator}
    bot = server.data.bots[0]
    assert await cli("get", "bot", bot["id"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == bot["id"]
    assert await cli("get", "bot", "nope") == 1
    assert "NotFoundError" in capsys.readouterr().err
    assert await cli("list", "glifs", "--sort", "new") == 2
    assert "--sort is for bots only" in capsys.readouterr().err


# --- the crawler ---------------------------------------------------------------------------------


def _ids(path: Path, table: str) -> set[str]:
    with sqlite(path) as db:
        return {r[0] for r in db.execute(f"SELECT id FROM {table}")}


async def _crawl(server: FakeGlifServer, path: Path, scope: Scope) -> Crawl:
    async with make_client(server) as client, Crawl(client, scope, path) as c:
        await c.run()
    return c


@pytest.mark.anyio
async def test_crawl_bots_harvests_every_agent_the_glifs_they_use_and_their_runs(tmp_path: Path) -> None:
    data = FakeData.generate(seed=5, users=6, glifs=80, runs=600, spheres=1, bots=15)
    # A glif an agent uses that is private now: no failure, nothing stored.
    gone = next(b for b in data.bots if b["spellsForBot"])["spellsForBot"][0]["spell"]["id"]
    data.glif_by_id[gone]["publishedAt"] = None
    data.reindex()
    db = tmp_path / "bots.sqlite"
    async with FakeGlifServer(data) as server:
        c = await _crawl(server, db, Scope(bots=True, runs=True))
        sorts = sorted({r.query.get("sort") for r in server.served("/api/bots")})
    assert c.status == "complete"
    assert sorts == ["featured", "new", "popular"]
    used = {s["spell"]["id"] for b in data.bots for s in b["spellsForBot"]} - {gone}
    assert _ids(db, "bots") == {b["id"] for b in data.bots}
    assert _ids(db, "glifs") == used  # only the glifs the agents use: --bots alone is no --all
    assert _ids(db, "runs") == {r["id"] for g in used for r in data.runs_by_glif.get(g, [])}
    assert c.stats.new["bots"] == len(data.bots)
    with sqlite(db) as conn:
        row = conn.execute("SELECT json, glif_ids FROM bots WHERE id=?", (data.bots[0]["id"],))
        raw, glif_ids = row.fetchone()
    assert json.loads(raw) == public_bot(data.bots[0])  # the record as the API sent it
    assert json.loads(glif_ids) == [s["spell"]["id"] for s in data.bots[0]["spellsForBot"]]
    # Every glif was asked for once, though three listings named most of them.
    asked = [r.query["id"] for r in server.served("/api/glifs") if "id" in r.query]
    assert sorted(asked) == sorted(used | {gone})
    with Store(db) as store:
        assert export_jsonl(store, tmp_path / "out")["bots"] == len(data.bots)


@pytest.mark.anyio
async def test_crawl_bots_of_users_and_the_cli_flag(tmp_path: Path) -> None:
    data = FakeData.generate(seed=6, users=5, glifs=40, runs=100, spheres=1, bots=12)
    creator = data.bots[0]["user"]["username"]
    db = tmp_path / "mine.sqlite"
    async with FakeGlifServer(data) as server:
        # A process of its own: the crawl command handles signals, which only a main thread can.
        argv = [sys.executable, "-m", "aioglif", "--api-url", server.api_url, "--token", server.token]
        argv += ["crawl", "--bots", "--user", creator, "--out", str(db), "--progress", "none"]
        done = await anyio.run_process(argv, check=False)
        asked = [r.query for r in server.served("/api/bots")]
    assert done.returncode == 0, done.stderr.decode()
    assert asked == [{"creator": creator}]
    assert _ids(db, "bots") == {b["id"] for b in data.bots if b["user"]["username"] == creator}
    assert "new bots" in done.stdout.decode()


def test_a_scope_without_bots_keeps_its_key() -> None:
    # Crawls begun before agents existed resume: their scope's key has not changed.
    assert "bots" not in json.loads(Scope(all=True, runs=True).key())
    assert json.loads(Scope(bots=True).key())["bots"] is True
    assert Scope(bots=True).all is False  # --bots alone harvests agents, not every glif


@pytest.mark.anyio
async def test_the_bots_listing_is_one_answer(server: FakeGlifServer, client: GlifClient) -> None:
    spec = listings.bots(sort="new", creator="ann")
    assert (spec.path, dict(spec.params), spec.paged) == ("/bots", {"sort": "new", "creator": "ann"}, False)
    with pytest.raises(ValueError, match="not paged"):
        client.paginate(spec)
    assert server.requests == []


@pytest.mark.anyio
async def test_an_incremental_bots_crawl_finds_new_runs_of_their_glifs(tmp_path: Path) -> None:
    data = FakeData.generate(seed=8, users=4, glifs=40, runs=100, spheres=0, bots=6)
    db = tmp_path / "bots.sqlite"
    used = next(s["spell"]["id"] for b in data.bots for s in b["spellsForBot"])
    async with FakeGlifServer(data) as server:
        assert (await _crawl(server, db, Scope(bots=True, runs=True))).status == "complete"
        fresh = data.add_run(used)
        async with (
            make_client(server) as client,
            Crawl(client, Scope(bots=True, runs=True), db, incremental=True) as c,
        ):
            assert await c.run() == "complete"
    assert fresh["id"] in _ids(db, "runs")


@pytest.mark.anyio
async def test_a_bot_the_models_cannot_read_is_quarantined_not_fatal(tmp_path: Path) -> None:
    data = FakeData.generate(seed=9, users=3, glifs=20, runs=10, spheres=0, bots=3)
    good = public_bot(data.bots[0]) | {"spellsForBot": [], "name": "bad\u2028name\x00"}
    body = json.dumps([good, {"name": "no id"}, {"id": 7}]).encode()
    db = tmp_path / "q.sqlite"
    creator = data.bots[0]["user"]["username"]
    async with FakeGlifServer(data) as server:
        server.inject(Fault.answer(200, body=body), path="/api/bots", query={"creator": creator})
        c = await _crawl(server, db, Scope(users=(creator,), bots=True))
    assert c.status == "complete"
    assert c.stats.quarantined == 2
    with sqlite(db) as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM quarantine")]
        (raw,) = conn.execute("SELECT json FROM bots WHERE id=?", (good["id"],)).fetchone()
    assert kinds == ["bots", "bots"]
    assert _ids(db, "bots") == {good["id"]}
    assert json.loads(raw)["name"] == "bad\u2028name\x00"  # kept as sent


@pytest.mark.anyio
async def test_the_glifs_of_an_agent_the_models_cannot_read_are_still_followed(tmp_path: Path) -> None:
    # Quarantined, the agent led nowhere: the glifs it uses were missing and the crawl said complete.
    data = FakeData.generate(seed=9, users=3, glifs=20, runs=10, spheres=0, bots=3)
    broken = data.bots[0]
    broken["deployedAt"] = 5  # not a string: the model refuses it
    uses = {s["spell"]["id"] for s in broken["spellsForBot"]}
    async with FakeGlifServer(data) as server:
        c = await _crawl(server, tmp_path / "q.sqlite", Scope(bots=True))
    assert c.status == "complete" and c.stats.quarantined == 1
    assert uses and uses <= _ids(tmp_path / "q.sqlite", "glifs")
