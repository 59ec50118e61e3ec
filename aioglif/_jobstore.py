"""The batch runner's job store: one SQLite file beside the results (see :mod:`aioglif._store`).

A job is what it says: its identity is its glif id and its canonical inputs (named, sorted;
positional ones named by the glif's inputs), plus the user's key column when one is given. The
same row twice is one job; an edited row is a new job; another glif is other jobs.

States, each committed in its own transaction::

    pending ──(committed before the request is sent)──▶ submitted ──▶ ok | failed
                                                            │
                      (the process died, or the answer never came)
                                                            ▼
                                                         unknown

``unknown`` means the run may have been made and paid for: it is run again only when asked
(``--retry-unknown``); ``failed`` likewise (``--retry-failed``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._store import SQLiteStore, one_line, write_aside

__all__ = ["JobRecord", "JobStore", "StoredJob", "identity", "store_path"]

STATES = ("pending", "submitted", "ok", "failed", "unknown")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, glif_id TEXT NOT NULL, inputs TEXT NOT NULL, key TEXT, row INTEGER,
    state TEXT NOT NULL, attempts INTEGER NOT NULL, error_kind TEXT, error TEXT, price TEXT,
    output TEXT, result TEXT, seconds REAL, submitted_at REAL, finished_at REAL, recovered TEXT);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS exports (path TEXT NOT NULL, sha256 TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (path, sha256));
"""

EXPORT_COLUMNS = (
    "row", "key", "state", "ok", "glif_id", "inputs", "output", "price", "error_kind", "error",
    "seconds", "attempts", "recovered", "job",
)  # fmt: skip


def store_path(out: Path) -> Path:
    """Where the job store of a results file lives: beside it."""
    return out.with_name(out.name + ".jobs.sqlite")


def identity(glif_id: str, inputs: Mapping[str, str] | Sequence[str], key: str | None) -> str:
    """A job's identity: a hash of its glif, canonical inputs and key (None: no key column)."""
    canonical = json.dumps(
        [glif_id, inputs if isinstance(inputs, Mapping) else list(inputs), key],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class StoredJob:
    id: str
    glif_id: str
    inputs: dict[str, str] | list[str]
    key: str | None
    row: int | None
    state: str
    attempts: int


@dataclass(frozen=True)
class JobRecord:
    """What one request ended in, to store."""

    state: str  # ok | failed | unknown
    error_kind: str | None = None
    error: str | None = None
    price: str | None = None
    output: Any = None  # whatever JSON the API sent as ``output``
    result: str | None = None  # the whole answer, as sent (kept raw when it does not decode)
    seconds: float | None = None


def _hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Candidate:
    """A job that may own one of the user's runs: an unknown one to recover, or an ok one
    whose run must not be taken for another's."""

    id: str
    state: str  # ok | unknown
    inputs: str  # canonical JSON, as stored: equal inputs are equal text
    submitted_at: float
    run_id: str | None  # the run it is known to be, when its answer said so


class JobStore(SQLiteStore):
    APP_ID = "aioglif-jobs"
    # 2: ``recovered``, the run an unknown job was found to be (see aioglif._recover).
    SCHEMA_VERSION = 2
    SCHEMA = _SCHEMA
    KIND = "aioglif job store"

    def _create(self, existing: bool) -> None:
        if existing and "recovered" not in {r[1] for r in self.db.execute("PRAGMA table_info(jobs)")}:
            with self.transaction() as db:  # schema 1: the column is added, empty
                db.execute("ALTER TABLE jobs ADD COLUMN recovered TEXT")
                db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(self.SCHEMA_VERSION),))
        super()._create(existing)

    # --- begin or resume -------------------------------------------------------------------

    def begin(self, jobs: Iterable[tuple[str, str, dict[str, str] | list[str], str | None, int]]) -> int:
        """Register the input's jobs (id, glif, inputs, key, row) and resume what a dead process left.

        Jobs already known keep their state; a job left ``submitted`` (its process died while
        it ran) becomes ``unknown``: nobody else can be running it, the store is locked.
        Returns how many jobs were found submitted and made unknown.
        """
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO jobs (id, glif_id, inputs, key, row, state, attempts)"
                " VALUES (?, ?, ?, ?, ?, 'pending', 0) ON CONFLICT(id) DO UPDATE SET row=excluded.row",
                [
                    (i, g, json.dumps(inp, ensure_ascii=False, sort_keys=True), k, row)
                    for i, g, inp, k, row in jobs
                ],
            )
            return _settle(db, "sent, but the process ended before its answer was stored")

    def settle(self) -> int:
        """Once no run is in flight any more: jobs still ``submitted`` (abandoned) are ``unknown``.

        Returns how many. They were sent and their answer never came: they may have been paid.
        """
        with self.transaction() as db:
            return _settle(db, "sent, then abandoned before its answer came")

    def jobs(self, ids: Iterable[str]) -> dict[str, StoredJob]:
        wanted = list(ids)
        found: dict[str, StoredJob] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT id, glif_id, inputs, key, row, state, attempts FROM jobs WHERE id IN ({marks})",
                chunk,
            ):
                found[row[0]] = StoredJob(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6])
        return found

    def candidates(self, glif_id: str, unknown: Iterable[str]) -> list[Candidate]:
        """The ``unknown`` jobs among ids, and every ok job of the glif with the same inputs."""
        marks = list(unknown)
        found: list[Candidate] = []
        for start in range(0, len(marks), 500):
            chunk = marks[start : start + 500]
            found += [
                Candidate(*row)
                for row in self.db.execute(
                    "SELECT id, state, inputs, COALESCE(submitted_at, 0), COALESCE(recovered,"
                    " CASE WHEN json_valid(result) THEN json_extract(result, '$.runId') END)"
                    f" FROM jobs WHERE glif_id=? AND (id IN ({','.join('?' * len(chunk))}) AND"
                    " state='unknown' OR state='ok' AND inputs IN (SELECT inputs FROM jobs"
                    f" WHERE id IN ({','.join('?' * len(chunk))})))",
                    (glif_id, *chunk, *chunk),
                )
            ]
        return list({c.id: c for c in found}.values())

    def adopt(self, job_id: str, run_id: str, r: JobRecord) -> None:
        """An unknown job found among the user's runs: ok, its answer taken from that run."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state='ok', error_kind=NULL, error=NULL, price=?, output=?, result=?,"
                " recovered=?, finished_at=? WHERE id=? AND state='unknown'",
                (
                    r.price,
                    None if r.output is None else json.dumps(r.output, ensure_ascii=False),
                    r.result,
                    run_id,
                    time.time(),
                    job_id,
                ),
            )

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, count(*) FROM jobs GROUP BY state"))

    # --- record with progress --------------------------------------------------------------

    def submitted(self, job_id: str) -> None:
        """Committed before the run's request is sent."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state='submitted', attempts=attempts+1, submitted_at=?,"
                " error_kind=NULL, error=NULL WHERE id=?",
                (time.time(), job_id),
            )

    def record(self, job_id: str, r: JobRecord) -> None:
        """Committed as soon as the answer is in: the run's state and everything it said."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET state=?, error_kind=?, error=?, price=COALESCE(?, price),"
                " output=?, result=COALESCE(?, result), seconds=?, finished_at=? WHERE id=?",
                (
                    r.state,
                    r.error_kind,
                    r.error,
                    r.price,
                    None if r.output is None else json.dumps(r.output, ensure_ascii=False),
                    r.result,
                    r.seconds,
                    time.time(),
                    job_id,
                ),
            )

    # --- exports ---------------------------------------------------------------------------

    def wrote(self, path: Path) -> bool:
        """Whether ``path`` holds an export this store wrote (and nobody changed since)."""
        digest = _hash(path)
        # Stores of earlier versions recorded the absolute path: still recognised where it is.
        row = self.db.execute(
            "SELECT 1 FROM exports WHERE path IN (?, ?) AND sha256=?",
            (self._export_name(path), _text(str(path.resolve())), digest),
        ).fetchone()
        return row is not None

    def _export_name(self, path: Path) -> str:
        """An export's place as seen from the store: what stays true when their directory moves.

        Its content (the hash) is the rest of its identity, so a file put there by anyone else
        is only ever taken for ours when it holds exactly what we wrote.
        """
        return _text(os.path.relpath(path.resolve(), self.path.resolve().parent))

    def export_rows(self) -> Iterable[dict[str, Any]]:
        cursor = self.db.execute(
            "SELECT row, key, state, glif_id, inputs, output, price, error_kind, error, seconds,"
            " attempts, recovered, id, result FROM jobs ORDER BY rowid"
        )
        for (
            row,
            key,
            state,
            glif_id,
            inputs,
            output,
            price,
            kind,
            error,
            seconds,
            attempts,
            recovered,
            id_,
            raw,
        ) in cursor:
            record: dict[str, Any] = {
                "row": row,
                "key": key if key is not None else (None if row is None else str(row)),
                "state": state,
                "ok": state == "ok",
                "glif_id": glif_id,
                "inputs": json.loads(inputs),
                "output": None if output is None else json.loads(output),
                "price": price,
                "error_kind": kind,
                "error": error,
                "seconds": seconds,
                "attempts": attempts,
                "recovered": recovered is not None,  # found among the user's runs, not run again
                "job": id_,
            }
            if raw is not None:
                try:
                    record["result"] = json.loads(raw)
                except ValueError:
                    record["result_raw"] = raw  # kept as it came: it did not decode
            yield record

    def export(self, out: Path, fmt: str) -> int:
        """Write the results file from the store: aside, then renamed over ``out``."""
        rows = list(self.export_rows())
        with write_aside(out) as partial:
            if fmt == "csv":
                _write_csv(partial, rows)
            elif fmt == "parquet":
                _write_parquet(partial, rows)
            else:
                with partial.open("wb") as f:
                    for r in rows:
                        f.write(one_line(json.dumps(r, ensure_ascii=False).encode()) + b"\n")
            digest = _hash(partial)
            # Known before the rename: a crash between the two still leaves a file we recognise.
            with self.transaction() as db:
                db.execute(
                    "INSERT OR IGNORE INTO exports VALUES (?, ?, ?)",
                    (self._export_name(out), digest, time.time()),
                )
        return len(rows)


def _text(name: str) -> str:
    """A file name as SQLite can store it: one that is not UTF-8 (bytes kept by Python as lone
    surrogates) would fail the statement, after the batch's runs were paid for."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _settle(db: Any, why: str) -> int:
    cur = db.execute(
        "UPDATE jobs SET state='unknown', error_kind='unknown', error=? WHERE state='submitted'", (why,)
    )
    return int(cur.rowcount)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*EXPORT_COLUMNS, "result"])
        for r in rows:
            raw = r.get("result", r.get("result_raw"))
            writer.writerow([_cell(r[c]) for c in EXPORT_COLUMNS] + [_cell(raw)])


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[Any]] = {c: [] for c in (*EXPORT_COLUMNS, "result")}
    for r in rows:
        for c in EXPORT_COLUMNS:
            v = r[c]
            typed = c in ("row", "ok", "seconds", "attempts", "recovered")
            columns[c].append(v if typed or v is None else _cell(v))
        raw = r.get("result", r.get("result_raw"))
        columns["result"].append(None if raw is None else _cell(raw))
    schema = pa.schema(
        [
            (c, pa.int64() if c in ("row", "attempts") else pa.bool_() if c in ("ok", "recovered") else
             pa.float64() if c == "seconds" else pa.string())
            for c in columns
        ]
    )  # fmt: skip
    pq.write_table(pa.table(columns, schema=schema), path)
