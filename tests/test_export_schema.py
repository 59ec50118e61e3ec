"""Exports with one documented schema: snake_case everywhere, real Parquet types, UTC timestamps
in one format, typed empty tables, ``since``, and the README's DuckDB queries."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from aioglif.crawl import SCHEMA, Crawl, Scope, export
from aioglif.testing import FakeData, FakeGlifServer

from .conftest import make_client

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

README = Path(__file__).parent.parent / "README.md"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import anyio

    path = tmp_path_factory.mktemp("crawl") / "glif.sqlite"

    async def harvest() -> None:
        data = FakeData.generate(seed=4, users=10, glifs=60, runs=600, spheres=2)
        async with (
            FakeGlifServer(data) as server,
            make_client(server) as client,
            Crawl(client, Scope(all=True, runs=True), path) as crawl,
        ):
            assert await crawl.run() == "complete"

    anyio.run(harvest)
    return path


def test_parquet_columns_have_real_types(database: Path, tmp_path: Path) -> None:
    counts = export(database, tmp_path)
    assert counts["runs"] == 600
    runs = pq.read_table(tmp_path / "runs.parquet")
    types = {f.name: f.type for f in runs.schema}
    assert types["created_at"] == pa.timestamp("us", tz="UTC")
    assert types["harvested_at"] == pa.timestamp("us", tz="UTC")
    assert pa.types.is_decimal(types["price"])
    assert types["nsfw_filtered"] == pa.bool_()
    glifs = pq.read_table(tmp_path / "glifs.parquet").schema
    assert glifs.field("has_graph").type == pa.bool_() and glifs.field("run_count").type == pa.int64()
    # The record as sent, whole, in one column.
    first = runs.slice(0, 1).to_pylist()[0]
    assert json.loads(first["json"])["id"] == first["id"]
    assert isinstance(first["price"], Decimal) and first["created_at"].tzinfo is not None
    # An empty table keeps its types (no null-typed columns).
    bots = pq.read_table(tmp_path / "bots.parquet")
    assert bots.num_rows == 0 and bots.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert [f.name for f in runs.schema] == [name for name, _ in SCHEMA["runs"]]


def test_jsonl_has_the_same_snake_case_columns_and_one_timestamp_format(
    database: Path, tmp_path: Path
) -> None:
    export(database, tmp_path, format="jsonl")
    rows = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 600
    assert all(list(r) == [name for name, _ in SCHEMA["runs"]] for r in rows)
    stamps = [r[k] for r in rows for k in ("created_at", "completed_at", "harvested_at") if r[k] is not None]
    assert stamps and all(ISO_UTC.match(s) for s in stamps)
    assert all(isinstance(r["price"], (int, float)) for r in rows if r["price"] is not None)


def test_since_exports_only_what_was_harvested_after(database: Path, tmp_path: Path) -> None:
    later = datetime.now(timezone.utc) + timedelta(days=1)
    assert set(export(database, tmp_path / "none", since=later).values()) == {0}
    earlier = datetime.now(timezone.utc) - timedelta(days=1)
    assert export(database, tmp_path / "all", since=earlier)["runs"] == 600
    with pytest.raises(ValueError, match="format"):
        export(database, tmp_path, format="csv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no crawl database"):
        export(tmp_path / "missing.sqlite", tmp_path)


def readme_sql() -> list[str]:
    text = README.read_text()
    return re.findall(r"<!-- duckdb -->\n```sql\n(.*?)```", text, flags=re.S)


def test_the_readme_duckdb_queries_answer_from_the_parquet_files(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duckdb = pytest.importorskip("duckdb")
    export(database, tmp_path / "parquet")
    monkeypatch.chdir(tmp_path)
    queries = readme_sql()
    assert len(queries) == 2
    top = duckdb.sql(queries[0]).fetchall()
    assert top and all(isinstance(runs, int) and creator for _, _, creator, runs in top)
    assert [r[3] for r in top] == sorted((r[3] for r in top), reverse=True)
    per_day = duckdb.sql(queries[1]).fetchall()
    assert sum(n for _, n, _ in per_day) == 600
    assert all(isinstance(spent, Decimal) or spent is None for _, _, spent in per_day)


def test_pandas_reads_both_formats_without_arguments(database: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    export(database, tmp_path / "pq")
    export(database, tmp_path / "jsonl", format="jsonl")
    runs = pd.read_parquet(tmp_path / "pq" / "runs.parquet")
    assert str(runs["created_at"].dt.tz) == "UTC" and str(runs["harvested_at"].dt.tz) == "UTC"
    assert isinstance(runs["price"].dropna().iloc[0], Decimal)
    assert runs["nsfw_filtered"].dtype == bool
    lines = pd.read_json(tmp_path / "jsonl" / "runs.jsonl", lines=True)
    completed = pd.to_datetime(lines["completed_at"])  # one format: no format= needed
    assert str(completed.dt.tz) == "UTC" and completed.notna().sum() == runs["completed_at"].notna().sum()


def test_an_export_never_overwrites_a_file_it_did_not_write(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--jsonl .` beside a file of the user's own called runs.jsonl replaced it with the export.
    from aioglif.cli import main

    for fmt, name in (("jsonl", "runs.jsonl"), ("jsonl.gz", "users.jsonl.gz"), ("parquet", "glifs.parquet")):
        there = tmp_path / fmt
        there.mkdir()
        export(database, there, format=fmt)
        assert export(database, there, format=fmt)["runs"] == 600  # our own export: written again
        mine = there / name
        mine.write_bytes(b'{"id": "mine", "notes": "do not lose"}\n')
        with pytest.raises(ValueError, match="not an export of aioglif"):
            export(database, there, format=fmt)
        assert mine.read_bytes() == b'{"id": "mine", "notes": "do not lose"}\n'
    # The command line refuses before the crawl starts (exit 2), the file untouched.
    out = tmp_path / "new.sqlite"
    assert main(["crawl", "--simulate", "--out", str(out), "--jsonl", str(tmp_path / "jsonl")]) == 2
    assert "runs.jsonl is not an export of aioglif" in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "jsonl" / "runs.jsonl").read_bytes().startswith(b'{"id": "mine"')
    # A database named as a table of its own export: refused before the crawl, not after it.
    (tmp_path / "k").mkdir()
    db = tmp_path / "k" / "runs.jsonl"
    assert main(["crawl", "--simulate", "--out", str(db), "--jsonl", str(tmp_path / "k")]) == 2
    assert "is where the export into" in capsys.readouterr().err and not db.exists()


def test_a_jsonl_row_is_one_line_for_every_reader(tmp_path: Path) -> None:
    # U+2028 in a name was written raw: str.splitlines() (and readers built on it) saw 3 rows.
    import anyio

    data = FakeData.generate(seed=4, users=3, glifs=5, runs=0, spheres=0)
    data.public_glifs[0]["name"] = "a\u2028b\x85c\u2029d"

    async def harvest() -> None:
        async with (
            FakeGlifServer(data) as server,
            make_client(server) as client,
            Crawl(client, Scope(all=True), tmp_path / "glif.sqlite") as crawl,
        ):
            assert await crawl.run() == "complete"

    anyio.run(harvest)
    export(tmp_path / "glif.sqlite", tmp_path / "x", format="jsonl")
    text = (tmp_path / "x" / "glifs.jsonl").read_text(encoding="utf-8")
    assert len(text.splitlines()) == len(data.public_glifs) == text.count("\n")
    rows = [json.loads(line) for line in text.splitlines()]
    assert "a\u2028b\x85c\u2029d" in {r["name"] for r in rows}
