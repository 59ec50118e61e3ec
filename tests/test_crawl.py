"""The crawler in-process: completeness, churn, faults, quarantine, failures, incremental, exports."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

import aioglif as g
from aioglif.crawl import Crawl, Scope, Store, StoreError
from aioglif.crawl._export import export_jsonl, export_parquet, parse_json_rows
from aioglif.testing import Behaviour, FakeData, FakeGlifServer, Fault

from .conftest import make_client, sqlite

pytestmark = pytest.mark.anyio


def small_data(seed: int = 3) -> FakeData:
    return FakeData.generate(seed=seed, users=12, glifs=150, runs=1500, spheres=2)


def ids(path: Path, table: str) -> list[str]:
    with sqlite(path) as db:
        return [r[0] for r in db.execute(f"SELECT id FROM {table}")]


async def crawl(server: FakeGlifServer, path: Path, scope: Scope | None = None, **kwargs: object) -> Crawl:
    async with (
        make_client(server) as client,
        Crawl(client, scope or Scope(all=True, runs=True), path, **kwargs) as c,  # type: ignore[arg-type]
    ):
        await c.run()
    return c


async def test_crawl_harvests_every_glif_run_and_user(tmp_path: Path) -> None:
    data = small_data()
    async with FakeGlifServer(data) as server:
        c = await crawl(server, tmp_path / "out.sqlite", Scope(all=True, runs=True, graphs=True))
    db = tmp_path / "out.sqlite"
    assert c.status == "complete"
    assert sorted(ids(db, "glifs")) == sorted(x["id"] for x in data.public_glifs)
    assert sorted(ids(db, "runs")) == sorted(x["id"] for x in data.public_runs)
    users = {x["userId"] for x in data.public_glifs} | {x["userId"] for x in data.public_runs}
    assert set(ids(db, "users")) == users
    with sqlite(db) as conn:
        glif_id, raw, runs, has_graph = conn.execute(
            "SELECT id, json, run_count, has_graph FROM glifs LIMIT 1"
        ).fetchone()
        assert json.loads(raw) == data.glif_by_id[glif_id]  # the record as the API sent it
        assert runs == data.glif_by_id[glif_id]["completedSpellRunCount"]
        assert has_graph == 1
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    # A glif without runs costs no run request.
    idle = [x["id"] for x in data.public_glifs if x["completedSpellRunCount"] == 0]
    asked = {r.query.get("glifId") for r in server.served("/api/runs")}
    assert idle
    assert not asked & set(idle)
    assert c.stats.useful_pages / c.client.stats.requests >= 0.9


async def test_a_finished_crawl_is_not_fetched_again(tmp_path: Path) -> None:
    async with FakeGlifServer(small_data()) as server:
        await crawl(server, tmp_path / "out.sqlite")
        server.requests.clear()
        again = await crawl(server, tmp_path / "out.sqlite")
    assert again.status == "complete"
    assert server.requests == []


@pytest.mark.parametrize("profile", ["default", "likes-cap-20-zero"])
async def test_new_items_during_the_crawl_push_nothing_out(tmp_path: Path, profile: str) -> None:
    data = small_data(seed=4)
    glifs_before = {x["id"] for x in data.public_glifs}
    runs_before = {x["id"] for x in data.public_runs}
    async with FakeGlifServer(data, behaviour=Behaviour.named(profile)) as server:
        server.faults.latency_jitter = 0.01

        async def churn() -> None:
            for i in range(40):
                await anyio.sleep(0.005)
                glif = data.add_glif()
                data.add_run(data.public_glifs[i % 30]["id"])
                glif["completedSpellRunCount"] = 0

        async with anyio.create_task_group() as tg:
            tg.start_soon(churn)
            c = await crawl(server, tmp_path / "out.sqlite")
    got_glifs, got_runs = ids(tmp_path / "out.sqlite", "glifs"), ids(tmp_path / "out.sqlite", "runs")
    assert c.status == "complete"
    assert glifs_before <= set(got_glifs)
    assert runs_before <= set(got_runs)
    assert len(got_runs) == len(set(got_runs))


async def test_faulty_answers_still_give_every_record_once(tmp_path: Path) -> None:
    data = small_data(seed=5)
    async with FakeGlifServer(data) as server:
        server.faults.error_rate = 0.02
        server.faults.drop_rate = 0.015
        server.faults.truncate_rate = 0.015
        server.faults.seed = 5
        c = await crawl(server, tmp_path / "out.sqlite")
        faulty = [r for r in server.requests if r.fault]
    assert faulty, "the test should see faults"
    assert c.status == "complete"
    assert sorted(ids(tmp_path / "out.sqlite", "runs")) == sorted(x["id"] for x in data.public_runs)
    assert sorted(ids(tmp_path / "out.sqlite", "glifs")) == sorted(x["id"] for x in data.public_glifs)


async def test_an_undecodable_record_is_quarantined_not_fatal(tmp_path: Path) -> None:
    data = small_data()
    broken = data.public_glifs[7]
    broken["createdAt"] = 12345  # not a timestamp: the model refuses it
    async with FakeGlifServer(data) as server:
        c = await crawl(server, tmp_path / "out.sqlite", Scope(all=True))
    assert c.status == "complete"
    assert c.stats.quarantined == 1
    with sqlite(tmp_path / "out.sqlite") as db:
        kind, raw, error = db.execute("SELECT kind, raw, error FROM quarantine").fetchone()
    assert kind == "glifs"
    assert json.loads(raw)["id"] == broken["id"]
    assert "createdAt" in error
    assert len(ids(tmp_path / "out.sqlite", "glifs")) == len(data.public_glifs) - 1


async def test_the_runs_of_a_glif_the_models_cannot_read_are_still_harvested(tmp_path: Path) -> None:
    # Quarantined, the glif led nowhere: all its runs were missing and the crawl said complete.
    data = small_data()
    broken = max(data.public_glifs, key=lambda x: x["completedSpellRunCount"])
    broken["createdAt"] = 12345
    async with FakeGlifServer(data) as server:
        c = await crawl(server, tmp_path / "out.sqlite")
    assert c.status == "complete" and c.stats.quarantined == 1
    theirs = {r["id"] for r in data.public_runs if r["spellId"] == broken["id"]}
    assert len(theirs) > 10 and theirs <= set(ids(tmp_path / "out.sqlite", "runs"))
    assert sorted(ids(tmp_path / "out.sqlite", "runs")) == sorted(x["id"] for x in data.public_runs)


async def test_a_failing_listing_is_retried_later_then_reported(tmp_path: Path) -> None:
    data = small_data()
    victim = max(data.public_glifs, key=lambda x: x["completedSpellRunCount"])
    async with FakeGlifServer(data) as server:
        # Fails through one round of retries; the next round gets it.
        server.inject(*[Fault.answer(503)] * 4, path="/api/runs", query={"glifId": victim["id"]})
        c = await crawl(server, tmp_path / "out.sqlite")
    assert c.status == "complete"
    assert {r["id"] for r in data.runs_by_glif[victim["id"]]} <= set(ids(tmp_path / "out.sqlite", "runs"))
    assert f"runs:glif:{victim['id']}" in c.stats.failures  # seen failing, then recovered

    async with FakeGlifServer(data) as server:
        server.inject(*[Fault.answer(404)] * 20, path="/api/runs", query={"glifId": victim["id"]})
        c = await crawl(server, tmp_path / "again.sqlite")
    assert c.status == "incomplete"
    assert c.summary()["listings_failed"] == 1


async def test_incremental_fetches_what_is_new(tmp_path: Path) -> None:
    data = small_data(seed=6)
    path = tmp_path / "out.sqlite"
    async with FakeGlifServer(data) as server:
        first = await crawl(server, path)
        full_requests = first.client.stats.requests
        new_glif = data.add_glif()
        new_glif["completedSpellRunCount"] = 0
        busy = data.public_glifs[3]
        new_runs = [data.add_run(busy["id"]) for _ in range(3)]
        server.requests.clear()
        second = await crawl(server, path, incremental=True)
    assert second.status == "complete"
    assert new_glif["id"] in ids(path, "glifs")
    assert {r["id"] for r in new_runs} <= set(ids(path, "runs"))
    run_lists = {r.query.get("glifId") for r in server.served("/api/runs")}
    assert run_lists == {busy["id"]}  # only the glif whose count grew
    assert second.client.stats.requests < full_requests / 3
    with sqlite(path) as db:
        count = db.execute("SELECT run_count FROM glifs WHERE id=?", (busy["id"],)).fetchone()[0]
    assert count == busy["completedSpellRunCount"]


async def test_scopes_users_spheres_and_glif_ids(tmp_path: Path) -> None:
    data = small_data()
    user = max(data.users.values(), key=lambda u: len(data.glifs_by_user.get(u["id"], [])))
    sphere = data.spheres[0]
    one = data.public_glifs[9]
    async with FakeGlifServer(data) as server:
        scope = Scope(users=(user["username"],), spheres=(sphere["slug"],), glifs=(one["id"],), runs=True)
        c = await crawl(server, tmp_path / "out.sqlite", scope)
    assert c.status == "complete"
    want = {x["id"] for x in data.glifs_by_user[user["id"]]} | set(sphere["glifIds"]) | {one["id"]}
    assert set(ids(tmp_path / "out.sqlite", "glifs")) == want
    assert ids(tmp_path / "out.sqlite", "spheres") == [sphere["id"]]
    runs = set(ids(tmp_path / "out.sqlite", "runs"))
    assert {r["id"] for r in data.runs_by_user[user["id"]]} <= runs


async def test_a_missing_glif_id_is_reported(tmp_path: Path) -> None:
    async with FakeGlifServer(small_data()) as server:
        c = await crawl(server, tmp_path / "out.sqlite", Scope(glifs=("no-such-glif",)))
    assert c.status == "incomplete"
    assert "glif:no-such-glif" in c.stats.failures


async def test_a_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite(other) as db:
        db.execute("CREATE TABLE mine (x)")
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not an aioglif database"):
        Store(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a database at all" * 100)
    with pytest.raises(StoreError):
        Store(text)
    assert other.read_bytes() == before
    assert text.read_text().startswith("hello")


async def test_exports_hold_every_record_once(tmp_path: Path) -> None:
    data = small_data()
    async with FakeGlifServer(data) as server:
        await crawl(server, tmp_path / "out.sqlite")
    store = Store(tmp_path / "out.sqlite")
    try:
        plain = export_jsonl(store, tmp_path / "jsonl")
        packed = export_jsonl(store, tmp_path / "gz", compress=True)
        parquet = export_parquet(store, tmp_path / "pq")
    finally:
        store.close()
    runs = parse_json_rows(tmp_path / "jsonl" / "runs.jsonl")
    assert sorted(r["id"] for r in runs) == sorted(x["id"] for x in data.public_runs)
    assert parse_json_rows(tmp_path / "gz" / "runs.jsonl.gz") == runs
    assert plain == packed == parquet
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "pq" / "glifs.parquet")
    assert table.num_rows == len(data.public_glifs)
    assert {"id", "name", "run_count", "json"} <= set(table.column_names)


def test_scope_defaults_to_all_and_checks_names() -> None:
    assert Scope().all
    with pytest.raises(ValueError, match="users"):
        Scope(users=("",))


async def test_client_rate_auto_finds_a_limit(server: FakeGlifServer) -> None:
    # Well below what any machine sends in process, so the 429s come however slow it is.
    server.faults.rate_limit = 4.0
    server.faults.burst = 2
    async with make_client(server, rate="auto", retry=g.RetryPolicy(attempts=8, max_elapsed=60)) as client:
        await client.glifs(page_size=10, concurrency=2).collect()
        assert client.rate is not None
        assert client.rate < 10.0  # came down from where it started
