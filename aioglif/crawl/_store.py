"""The crawl's SQLite file: the harvested records and the crawl's own state, side by side.

The crawl's side of the store contract (:mod:`aioglif._store`). Every page is written in one
transaction together with the listing's progress and the listings it gives rise to, so that a
crawl killed at any moment resumes exactly where its last commit left it: nothing written is
lost, nothing is written twice (records are upserted by id).

The same transaction links each record to the crawl's scope (``members``), so that an export
of one scope holds what that scope reached, however many scopes share the file.

This module is synchronous on purpose; the crawler runs it in one worker thread. The tables,
and the migrations of older files, are in :mod:`._schema`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .. import models as m
from .._store import SQLiteStore, StoreError
from ._schema import APP_ID, SCHEMA_VERSION, TABLES, migrate

__all__ = ["Listing", "Store", "StoreError"]

_ENC = msgspec.json.Encoder()


@dataclass(frozen=True)
class Listing:
    key: str  # "glifs:all", "runs:glif:<id>", ...
    kind: str  # glifs | runs | sphere | glif
    target: str  # what the listing is of: a username, a glif id, a slug, ...
    expected: int | None = None
    next_page: int = 1
    status: str = "pending"
    attempts: int = 0
    error: str | None = None


@dataclass
class Harvest:
    """One page of records to write: each a decoded model and its JSON as the API sent it."""

    glifs: list[tuple[m.Glif, bytes]]
    runs: list[tuple[m.Run, bytes]]
    spheres: list[tuple[m.Sphere, bytes]]
    quarantine: list[tuple[str, bytes, str]]  # kind, raw, error
    bots: list[tuple[m.Bot, bytes]] = field(default_factory=list)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


class Store(SQLiteStore):
    """The crawl's store (see :mod:`aioglif._store` for the contract): records and listings."""

    APP_ID = APP_ID
    SCHEMA_VERSION = SCHEMA_VERSION
    SCHEMA = TABLES

    def __init__(self, path: Any, *, lock: bool = True) -> None:
        self._scopes: dict[int, int] = {}  # crawl id -> scope id
        super().__init__(path, lock=lock)

    def _create(self, existing: bool) -> None:
        super()._create(existing)
        migrate(self)

    # --- scopes ----------------------------------------------------------------------------

    def _scope_id_of_key(self, key: str) -> int:
        self.db.execute("INSERT OR IGNORE INTO scopes (key) VALUES (?)", (key,))
        return int(self.db.execute("SELECT id FROM scopes WHERE key=?", (key,)).fetchone()[0])

    def scope_id(self, key: str) -> int | None:
        """The id of a scope (its :meth:`Scope.key`), or None if no crawl of it wrote here."""
        row = self.db.execute("SELECT id FROM scopes WHERE key=?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def _crawl_scope(self, crawl: int) -> int:
        scope = self._scopes.get(crawl)
        if scope is None:
            row = self.db.execute("SELECT scope FROM crawls WHERE id=?", (crawl,)).fetchone()
            scope = self._scopes[crawl] = self._scope_id_of_key(row[0] if row else "")
        return scope

    def scoped_table(
        self, table: str, columns: Sequence[str], scope: int
    ) -> tuple[list[str], Iterable[tuple[Any, ...]]]:
        """Like :meth:`table`, only the rows that belong to ``scope``; ``harvested_at`` is when
        that scope last wrote the row."""
        wanted = ", ".join("m.at" if c == "harvested_at" else f"t.{c}" for c in columns)
        # CROSS JOIN keeps the table the outer loop: rows come in rowid order as they are read,
        # with a primary-key probe each, instead of being gathered and sorted (a temp B-tree).
        cursor = self.db.execute(
            f"SELECT {wanted} FROM {table} AS t CROSS JOIN members AS m"
            " ON m.scope=? AND m.tbl=? AND m.id=t.id ORDER BY t.rowid",
            (scope, table),
        )
        return list(columns), cursor

    # --- crawls ----------------------------------------------------------------------------

    def last_crawl(self) -> tuple[int, str, str, bool] | None:
        row = self.db.execute(
            "SELECT id, scope, status, incremental FROM crawls ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2], bool(row[3]))

    def start_crawl(self, scope: str, incremental: bool) -> int:
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO crawls (scope, incremental, status, started_at) VALUES (?, ?, 'running', ?)",
                (scope, int(incremental), time.time()),
            )
            self._scope_id_of_key(scope)
        return int(cur.lastrowid or 0)

    def finish_crawl(self, crawl: int, status: str, stats: dict[str, Any]) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE crawls SET status=?, finished_at=?, stats=? WHERE id=?",
                (status, time.time(), json.dumps(stats), crawl),
            )

    # --- listings --------------------------------------------------------------------------

    def add_listings(self, crawl: int, listings: Iterable[Listing]) -> None:
        with self.transaction():
            self._add_listings(crawl, listings)

    def _add_listings(self, crawl: int, listings: Iterable[Listing]) -> None:
        now = time.time()
        self.db.executemany(
            "INSERT INTO listings (key, kind, target, expected, status, next_page, items, attempts, crawl,"
            " updated_at) VALUES (?, ?, ?, ?, 'pending', 1, 0, 0, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET expected=excluded.expected, crawl=excluded.crawl,"
            " status=CASE WHEN listings.crawl = excluded.crawl THEN listings.status ELSE 'pending' END,"
            " next_page=CASE WHEN listings.crawl = excluded.crawl THEN listings.next_page ELSE 1 END,"
            " attempts=CASE WHEN listings.crawl = excluded.crawl THEN listings.attempts ELSE 0 END,"
            " updated_at=excluded.updated_at",
            [(x.key, x.kind, x.target, x.expected, crawl, now) for x in listings],
        )

    def listings(self, crawl: int, statuses: Sequence[str]) -> list[Listing]:
        marks = ",".join("?" * len(statuses))
        rows = self.db.execute(
            f"SELECT key, kind, target, expected, next_page, status, attempts, error FROM listings"
            f" WHERE crawl=? AND status IN ({marks}) ORDER BY rowid",
            (crawl, *statuses),
        ).fetchall()
        return [Listing(*r) for r in rows]

    def listing_counts(self, crawl: int) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT status, count(*) FROM listings WHERE crawl=? GROUP BY status", (crawl,)
        )
        return dict(rows)

    def fail_listing(self, key: str, error: str) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE listings SET status='failed', attempts=attempts+1, error=?, updated_at=? WHERE key=?",
                (error, time.time(), key),
            )

    def reopen_crawl(self, crawl: int) -> None:
        """An incomplete crawl runs again: its failed listings from where they stopped."""
        with self.transaction():
            self.db.execute("UPDATE crawls SET status='running', finished_at=NULL WHERE id=?", (crawl,))
            self.db.execute(
                "UPDATE listings SET status='pending' WHERE crawl=? AND status='failed'", (crawl,)
            )

    def retry_failed(self, crawl: int) -> int:
        with self.transaction():
            cur = self.db.execute(
                "UPDATE listings SET status='pending' WHERE crawl=? AND status='failed'", (crawl,)
            )
        return cur.rowcount

    # --- records ---------------------------------------------------------------------------

    def write_page(
        self,
        crawl: int,
        listing: str,
        page: int | None,
        harvest: Harvest,
        *,
        done: bool,
        follow: Sequence[Listing] = (),
    ) -> int:
        """Write a page's records, the listing's progress and the listings it leads to, at once.

        Returns how many of the records were new to the crawl's scope.
        """
        now = time.time()
        with self.transaction():
            scope = self._crawl_scope(crawl)
            new = self._count_new(scope, "glifs", [g.id for g, _ in harvest.glifs])
            new += self._count_new(scope, "runs", [r.id for r, _ in harvest.runs])
            new += self._count_new(scope, "spheres", [s.id for s, _ in harvest.spheres])
            new += self._count_new(scope, "bots", [b.id for b, _ in harvest.bots])
            self._upsert_glifs(harvest.glifs, now)
            self._upsert_runs(harvest.runs, now)
            self._upsert_spheres(harvest.spheres, now)
            self._upsert_bots(harvest.bots, now)
            users = {u.id: u for g, _ in harvest.glifs if (u := g.user) is not None}
            users.update({u.id: u for r, _ in harvest.runs if (u := r.user) is not None})
            users.update({u.id: u for b, _ in harvest.bots if (u := b.user) is not None})
            self._upsert_users(users.values(), now)
            members = [
                ("glifs", [g.id for g, _ in harvest.glifs]),
                ("runs", [r.id for r, _ in harvest.runs]),
                ("spheres", [x.id for x, _ in harvest.spheres]),
                ("bots", [b.id for b, _ in harvest.bots]),
                ("users", list(users)),
            ]
            self.db.executemany(
                "INSERT INTO members VALUES (?, ?, ?, ?)"
                " ON CONFLICT (scope, tbl, id) DO UPDATE SET at=excluded.at",
                [(scope, table, id_, now) for table, ids in members for id_ in ids],
            )
            self.db.executemany(
                "INSERT OR IGNORE INTO quarantine VALUES (?, ?, ?, ?, ?)",
                [
                    (k, raw.decode("utf-8", "replace"), err, listing, now)
                    for k, raw, err in harvest.quarantine
                ],
            )
            items = len(harvest.glifs) + len(harvest.runs) + len(harvest.spheres) + len(harvest.bots)
            self.db.execute(
                "UPDATE listings SET status=?, next_page=COALESCE(?, next_page), items=items+?, error=NULL,"
                " updated_at=? WHERE key=?",
                ("done" if done else "running", None if page is None else page + 1, items, now, listing),
            )
            self._add_listings(crawl, follow)
        return new

    def mark_gone(self, listing: str, reason: str) -> None:
        """The listing's subject no longer exists (a glif deleted mid-crawl): not a failure."""
        with self.transaction():
            self.db.execute(
                "UPDATE listings SET status='gone', error=?, updated_at=? WHERE key=?",
                (reason, time.time(), listing),
            )

    def mark_done(self, listing: str) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE listings SET status='done', updated_at=? WHERE key=?", (time.time(), listing)
            )

    def _count_new(self, scope: int, table: str, ids: list[str]) -> int:
        if not ids:
            return 0
        unique = list(set(ids))
        marks = ",".join("?" * len(unique))
        known = self.db.execute(
            f"SELECT count(*) FROM members WHERE scope=? AND tbl=? AND id IN ({marks})",
            (scope, table, *unique),
        ).fetchone()[0]
        return len(unique) - int(known)

    def known(self, crawl: int, table: str, ids: Sequence[str]) -> set[str]:
        """Which of these ids the crawl's scope holds (records of other scopes do not count:
        this scope's export would lack them)."""
        scope = self._crawl_scope(crawl)
        found: set[str] = set()
        for start in range(0, len(ids), 500):  # under SQLite's limit of bound parameters
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT id FROM members WHERE scope=? AND tbl=? AND id IN ({marks})", (scope, table, *chunk)
            )
            found.update(r[0] for r in rows)
        return found

    def stored_runs(self, crawl: int, glif_id: str) -> int:
        """How many of the glif's runs the crawl's scope holds."""
        scope = self._crawl_scope(crawl)
        return int(
            self.db.execute(
                # CROSS JOIN keeps runs outer (found by glif through its index): a plain JOIN let
                # SQLite scan every run of the scope per call, which made crawls 3x slower.
                "SELECT count(*) FROM runs CROSS JOIN members ON members.scope=? AND members.tbl='runs'"
                " AND members.id=runs.id WHERE runs.glif_id=?",
                (scope, glif_id),
            ).fetchone()[0]
        )

    def _upsert_glifs(self, rows: list[tuple[m.Glif, bytes]], now: float) -> None:
        self.db.executemany(
            "INSERT INTO glifs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " name=excluded.name, user_id=excluded.user_id, username=excluded.username,"
            " updated_at=excluded.updated_at, published_at=excluded.published_at,"
            " featured_at=excluded.featured_at, output_type=excluded.output_type,"
            " run_count=excluded.run_count, likes=excluded.likes, comments=excluded.comments,"
            # A harvest without the graph must not replace one that has it.
            " json=CASE WHEN excluded.has_graph OR NOT glifs.has_graph"
            " THEN excluded.json ELSE glifs.json END,"
            " has_graph=max(glifs.has_graph, excluded.has_graph), harvested_at=excluded.harvested_at",
            [
                (
                    g.id,
                    g.name,
                    g.user_id,
                    g.user.username if g.user else None,
                    _iso(g.created_at),
                    _iso(g.updated_at),
                    _iso(g.published_at),
                    _iso(g.featured_at),
                    g.output_type,
                    g.completed_spell_run_count,
                    g.likes,
                    g.comments,
                    int(g.data is not None),
                    raw.decode(),
                    now,
                )
                for g, raw in rows
            ],
        )

    def _upsert_runs(self, rows: list[tuple[m.Run, bytes]], now: float) -> None:
        self.db.executemany(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " glif_id=excluded.glif_id, user_id=excluded.user_id, completed_at=excluded.completed_at,"
            " output_type=excluded.output_type, price=excluded.price, visibility=excluded.visibility,"
            " json=excluded.json, harvested_at=excluded.harvested_at, nsfw_filtered=excluded.nsfw_filtered",
            [
                (
                    r.id,
                    r.glif_id,
                    r.user_id,
                    _iso(r.created_at),
                    _iso(r.completed_at),
                    r.output_type,
                    None if r.price is None else str(r.price),
                    r.visibility,
                    raw.decode(),
                    now,
                    int(r.nsfw_filtered),
                )
                for r, raw in rows
            ],
        )

    def _upsert_spheres(self, rows: list[tuple[m.Sphere, bytes]], now: float) -> None:
        self.db.executemany(
            "INSERT INTO spheres VALUES (?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET slug=excluded.slug,"
            " name=excluded.name, json=excluded.json, harvested_at=excluded.harvested_at",
            [(s.id, s.slug, s.name, raw.decode(), now) for s, raw in rows],
        )

    def _upsert_bots(self, rows: list[tuple[m.Bot, bytes]], now: float) -> None:
        self.db.executemany(
            "INSERT INTO bots VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " username=excluded.username, name=excluded.name, user_id=excluded.user_id,"
            " created_at=excluded.created_at, message_count=excluded.message_count,"
            " glif_ids=excluded.glif_ids, json=excluded.json, harvested_at=excluded.harvested_at",
            [
                (
                    b.id,
                    b.username,
                    b.name,
                    b.user_id,
                    b.created_at,
                    b.message_count,
                    json.dumps(b.glif_ids),
                    raw.decode(),
                    now,
                )
                for b, raw in rows
            ],
        )

    def _upsert_users(self, users: Iterable[m.User], now: float) -> None:
        self.db.executemany(
            "INSERT INTO users VALUES (?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET"
            " username=excluded.username, name=excluded.name, image=excluded.image,"
            " json=excluded.json, harvested_at=excluded.harvested_at",
            [(u.id, u.username, u.name, u.image, _ENC.encode(u).decode(), now) for u in users],
        )
