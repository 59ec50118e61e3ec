"""Exports of a crawl's SQLite file, for DuckDB, pandas or Spark: JSONL (optionally gzipped) and
Parquet, with one schema (:data:`SCHEMA`) in every format.

- Columns are snake_case; ``json`` holds the record exactly as the API sent it (a JSON text).
- Timestamps are UTC: Parquet ``timestamp[us, UTC]``; JSONL ``2024-01-01T14:31:00.000000Z``
  (always with microseconds, so ``pandas.to_datetime`` needs no ``format``).
- ``price`` is exact: Parquet ``decimal128(38, 12)``, a JSON number in JSONL. Counts are
  integers, flags booleans, ``harvested_at`` a timestamp; an empty table keeps its types.
- Rows are streamed from the database (Parquet in row groups of :data:`ROW_GROUP` rows), so
  memory does not grow with the table.
- ``scope``: only the records a crawl of that :class:`~aioglif.crawl.Scope` wrote (the database
  records, for each record, every scope whose crawl reached it); without one, every record.
- ``since``: only the records harvested at or after that moment (what an incremental crawl added);
  with a scope, the moment that scope last wrote the record.

Written from the database at the end of a crawl, so they hold every record exactly once however
often the crawl was interrupted; each file is written aside and renamed into place.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import IO, Any, Literal

import msgspec

from .._store import one_line, write_aside
from ._scope import Scope
from ._store import Store

__all__ = [
    "ROW_GROUP",
    "SCHEMA",
    "TABLES",
    "check_export_dir",
    "export",
    "export_path",
    "export_jsonl",
    "export_parquet",
    "parquet_available",
]

# The type of each column: str, ts (an ISO text in the database), epoch (seconds), int, bool,
# price (a decimal text), list (a JSON list of strings).
SCHEMA: dict[str, tuple[tuple[str, str], ...]] = {
    "glifs": (
        ("id", "str"),
        ("name", "str"),
        ("user_id", "str"),
        ("username", "str"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
        ("published_at", "ts"),
        ("featured_at", "ts"),
        ("output_type", "str"),
        ("run_count", "int"),
        ("likes", "int"),
        ("comments", "int"),
        ("has_graph", "bool"),
        ("json", "str"),
        ("harvested_at", "epoch"),
    ),
    "runs": (
        ("id", "str"),
        ("glif_id", "str"),
        ("user_id", "str"),
        ("created_at", "ts"),
        ("completed_at", "ts"),
        ("output_type", "str"),
        ("price", "price"),
        ("visibility", "str"),
        ("nsfw_filtered", "bool"),
        ("json", "str"),
        ("harvested_at", "epoch"),
    ),
    "users": (
        ("id", "str"),
        ("username", "str"),
        ("name", "str"),
        ("image", "str"),
        ("json", "str"),
        ("harvested_at", "epoch"),
    ),
    "spheres": (("id", "str"), ("slug", "str"), ("name", "str"), ("json", "str"), ("harvested_at", "epoch")),
    "bots": (
        ("id", "str"),
        ("username", "str"),
        ("name", "str"),
        ("user_id", "str"),
        ("created_at", "ts"),
        ("message_count", "int"),
        ("glif_ids", "list"),
        ("json", "str"),
        ("harvested_at", "epoch"),
    ),
}
TABLES = tuple(SCHEMA)
ROW_GROUP = 10_000
PRICE_PLACES = 12
_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)


def _ts(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _epoch(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), tz=timezone.utc)


def _price(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value)).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "str": lambda v: None if v is None else str(v),
    "ts": _ts,
    "epoch": _epoch,
    "int": lambda v: None if v is None else round(float(v)),
    "bool": lambda v: None if v is None else bool(v),
    "price": _price,
    "list": lambda v: None if v is None else [str(x) for x in json.loads(v)],
}


def _rows(store: Store, table: str, since: datetime | None, scope: int | None) -> Iterator[list[Any]]:
    """The table's rows (those of ``scope``, or all) as typed values in :data:`SCHEMA` order,
    oldest first."""
    columns = SCHEMA[table]
    convert = [_CONVERT[kind] for _, kind in columns]
    names = [name for name, _ in columns]
    harvested = names.index("harvested_at")
    floor = None if since is None else _as_utc(since).timestamp()
    if scope is None:
        _, cursor = store.table(table, names)
    else:
        _, cursor = store.scoped_table(table, names, scope)
    for raw in cursor:
        if floor is not None and raw[harvested] < floor:
            continue
        yield [f(v) for f, v in zip(convert, raw, strict=True)]


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


_ENC = msgspec.json.Encoder(decimal_format="number")


def _scope_id(store: Store, scope: Scope | None) -> int | None:
    if scope is None:
        return None
    if not isinstance(scope, Scope):
        raise TypeError(f"scope must be an aioglif.crawl.Scope or None, got {type(scope).__name__}")
    found = store.scope_id(scope.key())
    if found is None:
        raise ValueError(f"{store.path} holds no crawl of this scope: {scope.key()}")
    return found


_ROW_END = re.compile(rb',"harvested_at":("[^"]*"|null)}\n?$')


def _ours(path: Path) -> bool:
    """Whether what lies where a table's export goes is an export of ours, or holds nothing.

    Known by its shape, not by a record of what we wrote: a directory exported into by several
    databases, or moved, is still ours. A row of ours starts with ``id`` and ends with
    ``harvested_at`` (columns added since sit between them), a Parquet file's schema likewise.
    """
    if not path.exists():
        return True  # nothing there, or a dangling link: the rename replaces the link only
    if not path.is_file():
        return False
    if path.stat().st_size == 0:
        return True
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            return bool(names) and names[0] == "id" and names[-1] == "harvested_at"
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            head = f.read(6)
            if head != b'{"id":':
                return not head  # an empty table's gzip holds nothing
            last = b""
            while piece := f.readline(1 << 20):  # a row holds a whole record: never all of it at once
                last = (last + piece)[-64:]
                if piece.endswith(b"\n"):
                    break
            return _ROW_END.search(last) is not None
    except Exception:  # unreadable, not gzip, not Parquet: not ours
        return False


def export_path(directory: str | os.PathLike[str], table: str, format: Format) -> Path:
    """Where a table's export in ``format`` goes."""
    return Path(directory) / f"{table}.{format}"


def check_export_dir(directory: str | os.PathLike[str], format: Format) -> None:
    """Refuse (ValueError) a directory holding a file an export would replace and we did not write."""
    for table in TABLES:
        path = export_path(directory, table, format)
        if not _ours(path):
            raise ValueError(
                f"{path} is not an export of aioglif; refusing to overwrite it: move it away or"
                " export into another directory"
            )


def export_jsonl(
    store: Store,
    directory: str | os.PathLike[str],
    *,
    compress: bool = False,
    since: datetime | None = None,
    scope: Scope | None = None,
) -> dict[str, int]:
    """``glifs.jsonl``, ``runs.jsonl``, ... (``.jsonl.gz`` with ``compress``): one row a line,
    the columns of :data:`SCHEMA`; only ``scope``'s records if given. Returns the number of
    rows written per table."""
    scope_id = _scope_id(store, scope)
    check_export_dir(directory, "jsonl.gz" if compress else "jsonl")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table, columns in SCHEMA.items():
        names = [name for name, _ in columns]
        final = export_path(directory, table, "jsonl.gz" if compress else "jsonl")
        n = 0
        out: IO[Any]
        with write_aside(final) as partial:
            opener: Any = gzip.open if compress else open
            with opener(partial, "wb") as out:
                for row in _rows(store, table, since, scope_id):
                    line = _ENC.encode({k: _json_value(v) for k, v in zip(names, row, strict=True)})
                    out.write(one_line(line))
                    out.write(b"\n")
                    n += 1
        counts[table] = n
    return counts


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _arrow_schema(table: str) -> Any:
    import pyarrow as pa

    types = {
        "str": pa.string(),
        "ts": pa.timestamp("us", tz="UTC"),
        "epoch": pa.timestamp("us", tz="UTC"),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "price": pa.decimal128(38, PRICE_PLACES),
        "list": pa.list_(pa.string()),
    }
    return pa.schema([pa.field(name, types[kind]) for name, kind in SCHEMA[table]])


def export_parquet(
    store: Store,
    directory: str | os.PathLike[str],
    *,
    since: datetime | None = None,
    scope: Scope | None = None,
) -> dict[str, int]:
    """One Parquet file a table, typed as :data:`SCHEMA` says, written in row groups of
    :data:`ROW_GROUP` rows; only ``scope``'s records if given. Needs the ``parquet`` extra
    (pyarrow). Returns rows per table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    scope_id = _scope_id(store, scope)
    check_export_dir(directory, "parquet")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in TABLES:
        schema = _arrow_schema(table)
        n = 0
        with (
            write_aside(export_path(directory, table, "parquet")) as partial,
            pq.ParquetWriter(partial, schema) as writer,
        ):
            for batch in _batches(_rows(store, table, since, scope_id), ROW_GROUP):
                columns = list(zip(*batch, strict=True))
                arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
                n += len(batch)
        counts[table] = n
    return counts


def _batches(rows: Iterator[list[Any]], size: int) -> Iterator[list[list[Any]]]:
    batch: list[list[Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


Format = Literal["parquet", "jsonl", "jsonl.gz"]


def export(
    database: str | os.PathLike[str] | Store,
    directory: str | os.PathLike[str],
    *,
    format: Format = "parquet",
    since: datetime | None = None,
    scope: Scope | None = None,
) -> dict[str, int]:
    """Export a crawl's database (a path, or an open :class:`Store`) into ``directory``: one
    file a table, in ``format``, with the columns of :data:`SCHEMA`. ``scope``: only the
    records a crawl of that scope wrote (None: every record in the database, whichever crawl
    wrote it); ``since``: only records harvested at or after it. Returns the number of rows
    written per table.

    ::

        from aioglif.crawl import Scope, export
        export("glif.sqlite", "parquet/")  # glifs.parquet, runs.parquet, users.parquet, ...
        export("glif.sqlite", "alice/", scope=Scope(users=("alice",), runs=True))
    """
    if format not in ("parquet", "jsonl", "jsonl.gz"):
        raise ValueError(f"format must be 'parquet', 'jsonl' or 'jsonl.gz', got {format!r}")
    if format == "parquet" and not parquet_available():
        raise ValueError("Parquet needs pyarrow: pip install 'aioglif[parquet]'")
    if isinstance(database, Store):
        return _export(database, directory, format, since, scope)
    path = Path(database)
    if not path.is_file():
        raise ValueError(f"no crawl database at {path}")
    store = Store(path)
    try:
        return _export(store, directory, format, since, scope)
    finally:
        store.close()


def _export(
    store: Store,
    directory: str | os.PathLike[str],
    format: Format,
    since: datetime | None,
    scope: Scope | None,
) -> dict[str, int]:
    if format == "parquet":
        return export_parquet(store, directory, since=since, scope=scope)
    return export_jsonl(store, directory, compress=format == "jsonl.gz", since=since, scope=scope)


def parse_json_rows(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL export back (tests and users checking an export)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]
