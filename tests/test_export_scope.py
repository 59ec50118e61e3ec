"""Exports hold the crawl's scope only: two crawls of different scopes into one database, and
each export holds exactly the records its scope reaches, counted independently from the fake
data; ``since`` is per scope; a file of schema 2 is migrated."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import anyio
import pytest

from aioglif.cli import main
from aioglif.crawl import Crawl, Scope, Store, export
from aioglif.testing import FakeData, FakeGlifServer

from .conftest import make_client, sqlite

SEED = {"seed": 7, "users": 12, "glifs": 90, "runs": 900, "spheres": 2}


@dataclass
class Crawled:
    path: Path
    data: FakeData
    user: str  # the username crawled in scope A
    between: datetime  # after crawl A, before crawl B


def scope_a(username: str) -> Scope:
    return Scope(users=(username,), runs=True)


SCOPE_B = Scope(featured=True, runs=True)


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    path = tmp_path_factory.mktemp("scope") / "glif.sqlite"
    data = FakeData.generate(**SEED)  # type: ignore[arg-type]
    # The user with most glifs: scope A then is a real part of the database, not all of it.
    user = max(data.users.values(), key=lambda u: len(data.glifs_by_user[u["id"]]))
    moments: list[datetime] = []

    async def harvest() -> None:
        async with FakeGlifServer(data) as server, make_client(server) as client:
            async with Crawl(client, scope_a(user["username"]), path) as crawl:
                assert await crawl.run() == "complete"
            moments.append(datetime.now(timezone.utc))
            async with Crawl(client, SCOPE_B, path) as crawl:
                assert await crawl.run() == "complete"

    anyio.run(harvest)
    return Crawled(path, data, user["username"], moments[0])


def expected(
    data: FakeData, glifs: list[dict[str, object]], extra_runs: list[dict[str, object]]
) -> dict[str, set[str]]:
    """What a scope reaches, from the fake data alone: the glifs, their public runs plus
    ``extra_runs``, and every user those glifs and runs name."""
    runs = {str(r["id"]): r for g in glifs for r in data.runs_by_glif.get(str(g["id"]), [])}
    runs.update({str(r["id"]): r for r in extra_runs})
    users = {str(g["userId"]) for g in glifs} | {str(r["userId"]) for r in runs.values()}
    return {"glifs": {str(g["id"]) for g in glifs}, "runs": set(runs), "users": users}


def ids(directory: Path, table: str) -> Iterator[str]:
    for line in (directory / f"{table}.jsonl").read_text().splitlines():
        yield json.loads(line)["id"]


def test_each_export_holds_exactly_its_scopes_records(crawled: Crawled, tmp_path: Path) -> None:
    d = crawled.data
    user = d.user_by_name[crawled.user]
    want_a = expected(d, d.glifs_by_user[user["id"]], d.runs_by_user[user["id"]])
    want_b = expected(d, d.featured_glifs, [])
    # The two scopes differ, and neither is the whole database.
    assert want_a["glifs"] - want_b["glifs"] and want_b["glifs"] - want_a["glifs"]
    assert want_a["runs"] - want_b["runs"] and want_b["runs"] - want_a["runs"]
    assert len(want_a["runs"] | want_b["runs"]) < len(d.public_runs)

    for scope, want in ((scope_a(crawled.user), want_a), (SCOPE_B, want_b)):
        out = tmp_path / str(hash(scope.key()))
        counts = export(crawled.path, out, format="jsonl", scope=scope)
        for table in ("glifs", "runs", "users"):
            got = list(ids(out, table))
            assert len(got) == len(set(got)), table  # each record once
            assert set(got) == want[table], table
            assert counts[table] == len(want[table])
        assert counts["spheres"] == counts["bots"] == 0

    # Without a scope, everything the database holds: the union.
    everything = export(crawled.path, tmp_path / "all", format="jsonl")
    assert everything["runs"] == len(want_a["runs"] | want_b["runs"])


def test_since_counts_from_when_the_scope_itself_wrote_a_record(crawled: Crawled, tmp_path: Path) -> None:
    # Crawl B rewrote the users both scopes share: for the whole database they are "new since",
    # for scope A they are not (A has not written anything since).
    a = export(
        crawled.path, tmp_path / "a", format="jsonl", scope=scope_a(crawled.user), since=crawled.between
    )
    assert set(a.values()) == {0}
    b = export(crawled.path, tmp_path / "b", format="jsonl", scope=SCOPE_B, since=crawled.between)
    assert b["glifs"] == len(crawled.data.featured_glifs)
    everything = export(crawled.path, tmp_path / "all", format="jsonl", since=crawled.between)
    assert everything["users"] == b["users"]


def test_parquet_export_by_scope_has_the_same_rows(crawled: Crawled, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    counts = export(crawled.path, tmp_path, scope=SCOPE_B)
    runs = pq.read_table(tmp_path / "runs.parquet")
    assert runs.num_rows == counts["runs"] > 0
    featured = {g["id"] for g in crawled.data.featured_glifs}
    assert set(runs.column("glif_id").to_pylist()) <= featured


def test_a_scope_never_crawled_here_is_a_clear_error(crawled: Crawled, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no crawl of this scope"):
        export(crawled.path, tmp_path, format="jsonl", scope=Scope(users=("nobody",)))
    with pytest.raises(TypeError, match="Scope"):
        export(crawled.path, tmp_path, format="jsonl", scope="featured")  # type: ignore[arg-type]
    assert not (tmp_path / "glifs.jsonl").exists()


def test_the_crawl_command_exports_only_its_scope(crawled: Crawled, tmp_path: Path) -> None:
    # A copy of the two-scope database; crawling scope A again (complete: nothing to fetch)
    # with --jsonl exports A only, not the featured glifs crawl B added.
    db = tmp_path / "glif.sqlite"
    with sqlite(crawled.path) as src, sqlite(db) as dst:
        src.backup(dst)
    d = crawled.data
    user = d.user_by_name[crawled.user]

    with serving(d) as (api_url, token):
        argv = ["--api-url", api_url, "--token", token, "crawl", "--out", str(db)]
        argv += ["--user", crawled.user, "--runs", "--jsonl", str(tmp_path / "out")]
        assert main(argv) == 0  # in the main thread: the command installs signal handlers
    want = expected(d, d.glifs_by_user[user["id"]], d.runs_by_user[user["id"]])
    assert set(ids(tmp_path / "out", "glifs")) == want["glifs"]
    assert set(ids(tmp_path / "out", "runs")) == want["runs"]


@contextmanager
def serving(data: FakeData) -> Iterator[tuple[str, str]]:
    """The fake server on an event loop in a thread of its own."""
    started: queue.Queue[tuple[str, str]] = queue.Queue()
    stop = threading.Event()

    async def serve() -> None:
        async with FakeGlifServer(data) as server:
            started.put((server.api_url, server.token))
            await anyio.to_thread.run_sync(stop.wait)

    thread = threading.Thread(target=anyio.run, args=(serve,))
    thread.start()
    try:
        yield started.get(timeout=30)
    finally:
        stop.set()
        thread.join(30)


def test_a_schema_2_file_of_one_scope_is_that_scopes_whole(crawled: Crawled, tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite(crawled.path) as src, sqlite(db) as dst:
        src.backup(dst)
    with sqlite(db) as con:  # as schema 2 left it: one scope's crawls, no membership
        con.execute("DROP TABLE members")
        con.execute("DROP TABLE scopes")
        con.execute("DELETE FROM crawls WHERE scope != ?", (SCOPE_B.key(),))
        con.execute("UPDATE meta SET value='2' WHERE key='schema'")
    store = Store(db)
    try:
        assert store.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "3"
        by_scope = export(store, tmp_path / "b", format="jsonl", scope=SCOPE_B)
        whole = export(store, tmp_path / "all", format="jsonl")
    finally:
        store.close()
    assert by_scope == whole


def test_a_third_scope_over_records_already_stored_still_holds_them(crawled: Crawled, tmp_path: Path) -> None:
    # One glif that scope A already harvested, with its runs: everything it reaches is known to
    # the file, yet the glif scope's export must hold it all (and nothing of A or B beyond it).
    db = tmp_path / "glif.sqlite"
    with sqlite(crawled.path) as src, sqlite(db) as dst:
        src.backup(dst)
    d = crawled.data
    user = d.user_by_name[crawled.user]
    glif = max(d.glifs_by_user[user["id"]], key=lambda g: len(d.runs_by_glif.get(g["id"], [])))
    scope = Scope(glifs=(glif["id"],), runs=True)

    async def harvest() -> None:
        async with (
            FakeGlifServer(d) as server,
            make_client(server) as client,
            Crawl(client, scope, db) as crawl,
        ):
            assert await crawl.run() == "complete"

    anyio.run(harvest)
    want = expected(d, [glif], [])
    assert want["runs"]
    counts = export(db, tmp_path / "out", format="jsonl", scope=scope)
    for table in ("glifs", "runs", "users"):
        assert set(ids(tmp_path / "out", table)) == want[table], table
        assert counts[table] == len(want[table])
