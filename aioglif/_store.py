"""What "a store" is here: one SQLite file holding a long job's records and its progress.

Two users share this layer: the crawler (``aioglif.crawl``: pages of records, listings as
progress) and the batch runner (a job queue: jobs and their results). Each keeps its own tables
and verbs; both keep the same contract, written down here so that a third user (or another
backend) knows what it must do:

- **begin or resume.** Opening a store either creates it (schema, ``meta`` rows naming the
  application and the schema version) or checks that the file is one of ours, of this
  application and not from a newer version; anything else is refused untouched
  (:class:`StoreError`). Work is then registered idempotently: registering it again resumes it.
- **record atomically with progress.** Every write that matters happens in one transaction
  (:meth:`SQLiteStore.transaction`, ``BEGIN IMMEDIATE``) together with the progress it makes, so
  a process killed at any moment leaves the store at its last commit, never between.
- **mark done / failed.** A unit of work ends in a state committed by itself; failed units can
  be put back to pending.
- **read rows.** Records come back as the JSON they were stored as (:meth:`SQLiteStore.rows`),
  or as named columns (:meth:`SQLiteStore.table`); exports read through these, never through
  the connection.
- **export.** Export files are written aside and renamed into place (:func:`write_aside`), so
  a reader never sees half a file and an old export survives a failed new one.

The SQLite implementation adds: WAL (readers are not blocked by the writer; ``synchronous=NORMAL``
is durable at each commit), and a lock on a ``.lock`` file beside the store taken for the whole
time a writer has it open, so a second process on the same store is refused at once
(:class:`StoreLocked`) instead of interleaving its work with the first's.

This module is synchronous on purpose; async users run it in one worker thread.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

__all__ = ["SQLiteStore", "Store", "StoreError", "StoreLocked", "one_line", "write_aside"]


class StoreError(Exception):
    """The file cannot be used as a store: not ours, from a newer version, or unreadable."""


class StoreLocked(StoreError):
    """Another process has the store open for writing."""


class Store(Protocol):
    """The part of the contract every store offers, whatever its own verbs."""

    path: Path

    def rows(self, table: str) -> Iterable[str]: ...

    def table(self, table: str) -> tuple[list[str], Iterable[tuple[Any, ...]]]: ...

    def close(self) -> None: ...


class SQLiteStore:
    """An application's SQLite file: identity check, schema, WAL, writer lock, transactions.

    Subclasses set ``APP_ID``, ``SCHEMA_VERSION`` and ``SCHEMA`` (``CREATE ... IF NOT EXISTS``
    statements) and add their own verbs on top of :meth:`transaction`.
    """

    APP_ID: str
    SCHEMA_VERSION: int
    SCHEMA: str
    KIND = "aioglif database"  # how an error message names the file

    def __init__(self, path: Path, *, lock: bool = True) -> None:
        self.path = path
        self._lock_file: IO[bytes] | None = None
        try:
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        try:
            existing = self._check()
            if lock:
                self._lock()
            self._create(existing)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{path} is not an {self.KIND} ({exc})") from exc
        except BaseException:
            self.close()
            raise

    def _check(self) -> bool:
        """Whether the file already holds our tables; refuses any other non-empty database."""
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return False
        app = (
            self.db.execute("SELECT value FROM meta WHERE key='app'").fetchone() if "meta" in tables else None
        )
        if app is None or app[0] != self.APP_ID:
            raise StoreError(f"{self.path} is not an {self.KIND}; refusing to touch it")
        version = int(self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])
        if version > self.SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer aioglif (schema {version})")
        return True

    def _lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            f = lock_path.open("ab")
        except OSError as exc:
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        try:
            _try_lock(f)
        except OSError:
            f.close()
            raise StoreLocked(
                f"{self.path} is in use by another process (it holds {lock_path.name});"
                " wait for it to finish, or stop it"
            ) from None
        self._lock_file = f

    def _create(self, existing: bool) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(self.SCHEMA)  # IF NOT EXISTS throughout: safe on an existing file
        self.db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('app', ?), ('schema', ?)",
            (self.APP_ID, str(self.SCHEMA_VERSION)),
        )

    def transaction(self) -> Transaction:
        return Transaction(self.db)

    def close(self) -> None:
        self.db.close()
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock; the empty file stays (unlinking races)
            self._lock_file = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- reading back ----------------------------------------------------------------------

    def rows(self, table: str) -> Iterable[str]:
        """The ``json`` column of a table, in insertion order."""
        for (raw,) in self.db.execute(f"SELECT json FROM {table} ORDER BY rowid"):
            yield raw

    def table(self, table: str, columns: Sequence[str] = ()) -> tuple[list[str], Iterable[tuple[Any, ...]]]:
        """A table's column names and its rows (all columns, or those named)."""
        wanted = ", ".join(columns) if columns else "*"
        cursor = self.db.execute(f"SELECT {wanted} FROM {table} ORDER BY rowid")
        return [d[0] for d in cursor.description], cursor


class Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


# Line breaks to str.splitlines() that JSON leaves unescaped (U+0085, U+2028, U+2029): escaped in
# the files we write a record a line into, so that a row is one line for every reader, not only
# for those splitting on "\n".
_BREAKS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def one_line(line: bytes) -> bytes:
    """A JSON text in UTF-8 with those line breaks escaped (they only occur inside strings)."""
    if b"\xc2\x85" in line or b"\xe2\x80" in line:
        for raw, escaped in _BREAKS:
            line = line.replace(raw, escaped)
    return line


@contextlib.contextmanager
def write_aside(final: Path) -> Iterator[Path]:
    """Yield a new ``.partial`` path beside ``final`` to write; renamed over ``final`` on success.

    On an exception the partial file is removed and ``final`` is left as it was.
    """
    # A name of our own, created exclusively: whatever already lies beside ``final`` (a stale
    # partial, a foreign file, a symlink to one) is never written through, truncated or removed.
    while True:
        partial = final.with_name(f"{final.name}.{secrets.token_hex(4)}.partial")
        try:
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield partial
        with contextlib.suppress(OSError), open(partial, "rb+") as f:
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(partial, final)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(f: IO[bytes]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _try_lock(f: IO[bytes]) -> None:
        # flock, not fcntl(F_SETLK): SQLite holds POSIX locks on its own files, and those are
        # dropped when any descriptor of the file closes; flock on a separate file is independent.
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
