"""Harvest glifs (and their public runs) into SQLite, then export Parquet for DuckDB or pandas.

    python examples/harvest_to_parquet.py --featured --runs glif.sqlite parquet/

Interrupted, it resumes where it stopped when run again with the same arguments. Needs the
``parquet`` extra (``pip install 'aioglif[parquet]'``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from aioglif import GlifClient, GlifError
from aioglif.crawl import Crawl, Scope, export_parquet


async def harvest(database: str, parquet: Path, scope: Scope) -> dict[str, int]:
    """Crawl ``scope`` into ``database``; the number of records exported per table."""
    async with GlifClient(rate="auto") as client, Crawl(client, scope, database) as crawl:
        status = await crawl.run()
        if status != "complete":
            raise SystemExit(f"the crawl is {status}: run again to finish it")
        # The crawl is done with its file: the export reads it in a worker thread.
        return await anyio.to_thread.run_sync(export_parquet, crawl.store, parquet)


class Options(argparse.Namespace):
    database: str
    parquet: Path
    featured: bool
    user: list[str]
    runs: bool


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("database", help="the SQLite file: created, or resumed")
    parser.add_argument("parquet", type=Path, help="a directory: one .parquet file per table")
    parser.add_argument("--featured", action="store_true", help="featured glifs only")
    no_users: list[str] = []
    parser.add_argument("--user", action="append", default=no_users, help="this user's glifs (repeatable)")
    parser.add_argument("--runs", action="store_true", help="and every public run of each glif")
    args = parser.parse_args(argv, namespace=Options())
    scope = Scope(featured=args.featured, users=tuple(args.user), runs=args.runs)
    try:
        counts = await harvest(args.database, args.parquet, scope)
    except GlifError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for table, n in counts.items():
        print(f"{table}: {n} rows -> {args.parquet / (table + '.parquet')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(anyio.run(main))
