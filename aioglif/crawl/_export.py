"""Exports of a crawl's SQLite file, for DuckDB, pandas or Spark: JSONL (optionally gzipped) and
Parquet. Written from the database at the end of a crawl, so they hold every record exactly
once however often the crawl was interrupted; each file is written aside and renamed into place."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import IO, Any

from ._store import Store

TABLES = ("glifs", "runs", "users", "spheres")

__all__ = ["TABLES", "export_jsonl", "export_parquet", "parquet_available"]


def export_jsonl(store: Store, directory: Path, *, compress: bool = False) -> dict[str, int]:
    """``glifs.jsonl``, ``runs.jsonl``, ... (``.jsonl.gz`` with ``compress``): one record a line."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        final = directory / f"{table}.jsonl{'.gz' if compress else ''}"
        partial = final.with_name(final.name + ".partial")
        n = 0
        out: IO[Any]
        with (
            gzip.open(partial, "wt", encoding="utf-8") if compress else partial.open("w", encoding="utf-8")
        ) as out:
            for raw in store.rows(table):
                out.write(raw)
                out.write("\n")
                n += 1
            out.flush()
        os.replace(partial, final)
        counts[table] = n
    return counts


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def export_parquet(store: Store, directory: Path) -> dict[str, int]:
    """One Parquet file a table: the extracted columns, and ``json`` with the whole record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        cursor = store.db.execute(f"SELECT * FROM {table} ORDER BY rowid")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        final = directory / f"{table}.parquet"
        partial = final.with_name(final.name + ".partial")
        pq.write_table(pa.Table.from_pylist(rows) if rows else pa.table({n: [] for n in names}), partial)
        os.replace(partial, final)
        counts[table] = len(rows)
    return counts


def parse_json_rows(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL export back (tests and users checking an export)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]
