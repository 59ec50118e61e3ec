"""The crawl file's schema: its tables, its version, and the migrations that bring a file of an
older version up to date when it is opened. Its own module: what the file holds, and how an old
file becomes a new one, changes apart from (and more rarely than) how the crawl writes to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import models as m

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["APP_ID", "MEMBER_TABLES", "SCHEMA_VERSION", "TABLES", "migrate"]

APP_ID = "aioglif-crawl"
# 2: runs.nsfw_filtered (files of schema 1 are migrated when opened).
# 3: scopes and members: which crawl scopes reached each record (exports are per scope).
SCHEMA_VERSION = 3

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS glifs (
    id TEXT PRIMARY KEY, name TEXT, user_id TEXT, username TEXT, created_at TEXT, updated_at TEXT,
    published_at TEXT, featured_at TEXT, output_type TEXT, run_count INTEGER, likes INTEGER,
    comments INTEGER, has_graph INTEGER NOT NULL, json TEXT NOT NULL, harvested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, glif_id TEXT, user_id TEXT, created_at TEXT, completed_at TEXT,
    output_type TEXT, price TEXT, visibility TEXT, json TEXT NOT NULL, harvested_at REAL NOT NULL,
    nsfw_filtered INTEGER);
CREATE INDEX IF NOT EXISTS runs_by_glif ON runs (glif_id);
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username TEXT, name TEXT, image TEXT, json TEXT NOT NULL,
    harvested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS spheres (
    id TEXT PRIMARY KEY, slug TEXT, name TEXT, json TEXT NOT NULL, harvested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS bots (
    id TEXT PRIMARY KEY, username TEXT, name TEXT, user_id TEXT, created_at TEXT, message_count REAL,
    glif_ids TEXT NOT NULL, json TEXT NOT NULL, harvested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    kind TEXT NOT NULL, raw TEXT NOT NULL, error TEXT NOT NULL, listing TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (kind, raw));
CREATE TABLE IF NOT EXISTS listings (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, expected INTEGER,
    status TEXT NOT NULL, next_page INTEGER NOT NULL, items INTEGER NOT NULL, attempts INTEGER NOT NULL,
    error TEXT, crawl INTEGER NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS listings_by_status ON listings (crawl, status);
CREATE TABLE IF NOT EXISTS crawls (
    id INTEGER PRIMARY KEY, scope TEXT NOT NULL, incremental INTEGER NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, stats TEXT);
CREATE TABLE IF NOT EXISTS scopes (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
-- A record belongs to every scope whose crawl wrote it; "at" is when that scope last wrote it
-- (an export's --since). Filled in the transaction that writes the page.
CREATE TABLE IF NOT EXISTS members (
    scope INTEGER NOT NULL, tbl TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (scope, tbl, id)) WITHOUT ROWID;
"""

MEMBER_TABLES = ("glifs", "runs", "users", "spheres", "bots")


def migrate(store: Store) -> None:
    """Bring a file of an older schema up to date (a new file passes through unchanged)."""
    columns = {row[1] for row in store.db.execute("PRAGMA table_info(runs)")}
    if "nsfw_filtered" not in columns:
        # Schema 1: the column is added at the end, as new files have it, and filled in
        # from each run's output by the same rule as Run.nsfw_filtered.
        store.db.create_function("nsfw_placeholder", 1, _nsfw_placeholder, deterministic=True)
        with store.transaction():
            store.db.execute("ALTER TABLE runs ADD COLUMN nsfw_filtered INTEGER")
            store.db.execute(
                "UPDATE runs SET nsfw_filtered = nsfw_placeholder(json_extract(json, '$.output'))"
            )
            store.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
    version = int(store.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0])
    if version < 3:
        _migrate_members(store)


def _migrate_members(store: Store) -> None:
    """Schema 2 kept no membership. When every crawl in the file was of one scope, all its
    records are that scope's; with several scopes nobody knows which reached what, so none
    are attributed (an export by scope holds what crawls write from now on)."""
    with store.transaction():
        keys = [r[0] for r in store.db.execute("SELECT DISTINCT scope FROM crawls")]
        if len(keys) == 1:
            scope = store._scope_id_of_key(keys[0])
            for table in MEMBER_TABLES:
                store.db.execute(
                    f"INSERT OR IGNORE INTO members SELECT ?, ?, id, harvested_at FROM {table}",
                    (scope, table),
                )
        store.db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))


def _nsfw_placeholder(output: object) -> int:
    return int(isinstance(output, str) and m.is_nsfw_placeholder(output))
