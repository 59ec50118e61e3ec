"""The bulk crawler: harvest glifs, runs, users and spheres into SQLite, resumable and exact.

::

    async with GlifClient(rate="auto") as client:
        async with Crawl(client, Scope(all=True, runs=True), Path("glif.sqlite")) as crawl:
            status = await crawl.run()
"""

from ._crawler import Crawl, CrawlStats, CrawlStatus, Scope
from ._export import SCHEMA, export, export_jsonl, export_parquet
from ._store import Store, StoreError

__all__ = [
    "Crawl",
    "CrawlStats",
    "CrawlStatus",
    "Scope",
    "Store",
    "StoreError",
    "SCHEMA",
    "export",
    "export_jsonl",
    "export_parquet",
]
