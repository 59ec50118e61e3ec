"""The store layer shared by the crawl and the batch job store."""

from __future__ import annotations

from pathlib import Path

import pytest

from aioglif._store import SQLiteStore, StoreError, StoreLocked, write_aside


class Notes(SQLiteStore):
    APP_ID = "aioglif-test-notes"
    SCHEMA_VERSION = 2
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, json TEXT NOT NULL);
    """


class OtherApp(Notes):
    APP_ID = "aioglif-test-other"


def test_a_second_writer_is_refused_at_once_and_the_first_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    with Notes(path) as first:
        with pytest.raises(StoreLocked, match="in use by another process"):
            Notes(path)
        with first.transaction() as db:
            db.execute("INSERT INTO notes VALUES ('a', '{}')")
        # A reader that takes no lock still sees the committed rows (WAL).
        reader = Notes(path, lock=False)
        assert list(reader.rows("notes")) == ["{}"]
        reader.close()
    with Notes(path) as again:  # closing released the lock
        assert again.table("notes")[0] == ["id", "json"]


def test_a_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    with Notes(tmp_path / "n.sqlite") as store:

        def insert_then_fail() -> None:
            with store.transaction() as db:
                db.execute("INSERT INTO notes VALUES ('a', '{}')")
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            insert_then_fail()
        assert list(store.rows("notes")) == []


def test_files_that_are_not_this_stores_are_refused_untouched(tmp_path: Path) -> None:
    Notes(tmp_path / "n.sqlite").close()
    with pytest.raises(StoreError, match="not an aioglif database"):
        OtherApp(tmp_path / "n.sqlite")
    newer = tmp_path / "newer.sqlite"
    with Notes(newer) as store, store.transaction() as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema'")
    with pytest.raises(StoreError, match="newer aioglif"):
        Notes(newer)
    text = tmp_path / "notes.txt"
    text.write_bytes(b"precious\n" * 1000)
    with pytest.raises(StoreError):
        Notes(text)
    assert text.read_bytes() == b"precious\n" * 1000
    assert not (tmp_path / "notes.txt.lock").exists()


def test_an_export_is_written_aside_and_renamed(tmp_path: Path) -> None:
    final = tmp_path / "out.jsonl"
    final.write_text("old\n")
    seen: list[Path] = []

    def write_half() -> None:
        with write_aside(final) as partial:
            seen.append(partial)
            partial.write_text("half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_half()
    assert final.read_text() == "old\n"
    assert not seen[0].exists()
    with write_aside(final) as partial:
        partial.write_text("new\n")
    assert final.read_text() == "new\n"
    assert not partial.exists()


def test_an_export_never_writes_through_what_lies_beside_it(tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    final = tmp_path / "out.jsonl"
    # A stale or hostile "partial" name: a symlink to a file that is not ours, and a foreign file.
    (tmp_path / "out.jsonl.partial").symlink_to(precious)
    (tmp_path / "out.jsonl.tmp.partial").write_text("foreign\n")
    with write_aside(final) as partial:
        partial.write_text("new\n")
    assert final.read_text() == "new\n" and not final.is_symlink()
    assert precious.read_text() == "precious\n"
    assert (tmp_path / "out.jsonl.partial").is_symlink()
    assert (tmp_path / "out.jsonl.tmp.partial").read_text() == "foreign\n"
