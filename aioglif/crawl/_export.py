"""Exports of a crawl's SQLite file, for DuckDB, pandas or Spark: JSONL (optionally gzipped) and
Parquet. Written from the database at the end of a crawl, so they hold every record exactly
once however often the crawl was interrupted; each file is written aside and renamed into place."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import IO, Any

from .._store import write_aside
from ._store import Store

TABLES = ("glifs", "runs", "users", "spheres", "bots")

__all__ = ["TABLES", "export_jsonl", "export_parquet", "parquet_available"]


def export_jsonl(
    store: Store, directory: str | os.PathLike[str], *, compress: bool = False
) -> dict[str, int]:
    """``glifs.jsonl``, ``runs.jsonl``, ... (``.jsonl.gz`` with ``compress``): one record a line.

    Returns the number of records written per table.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        final = directory / f"{table}.jsonl{'.gz' if compress else ''}"
        n = 0
        out: IO[Any]
        with write_aside(final) as partial:
            opener: Any = gzip.open if compress else open
            with opener(partial, "wt", encoding="utf-8") as out:
                for raw in store.rows(table):
                    out.write(raw)
                    out.write("\n")
                    n += 1
        counts[table] = n
    return counts


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def export_parquet(store: Store, directory: str | os.PathLike[str]) -> dict[str, int]:
    """One Parquet file a table: the extracted columns, and ``json`` with the whole record.

    Needs the ``parquet`` extra (pyarrow). Returns the number of records written per table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        names, cursor = store.table(table)
        rows = [dict(zip(names, row, strict=True)) for row in cursor]
        with write_aside(directory / f"{table}.parquet") as partial:
            pq.write_table(pa.Table.from_pylist(rows) if rows else pa.table({n: [] for n in names}), partial)
        counts[table] = len(rows)
    return counts


def parse_json_rows(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL export back (tests and users checking an export)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]
