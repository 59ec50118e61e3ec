"""Listing and crawling on every way the API may page: each profile × contender, what was missed,
repeated and what it cost. And what aioglif's checks cost where the server is the documented one.

In-process (the fake server and the client share a loop): these count items and requests, not
time. The hand-written loops are the usual ones: a sequential ``page=1, 2, …`` loop that stops
at the first short page, and batches of pages fetched at once (``asyncio.gather``), stopping at
the first short one. Both are cut off at ``CUTOFF`` requests, since against a server that
ignores ``page`` they never end.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from aioglif import GlifClient, GlifError
from aioglif.crawl import Crawl, Scope
from aioglif.testing import PROFILES, Behaviour, FakeData, FakeGlifServer

CUTOFF = 400
PAGE = 100


def _churn() -> Behaviour:
    return replace(Behaviour(), delete_glif_every=3, delete_run_every=1, insert_glif_every=4, seed=1)


def _profiles() -> dict[str, Behaviour]:
    out = {name: make() for name, make in PROFILES.items() if name not in ("stale-run-count", "likely")}
    out["deletions and insertions"] = _churn()
    return out


async def _sequential(session: aiohttp.ClientSession, url: str) -> tuple[list[str], int]:
    ids, page, requests = [], 1, 0
    while requests < CUTOFF:
        async with session.get(url, params={"page": page, "limit": PAGE}) as r:
            requests += 1
            items = await r.json() if r.status == 200 else []
        ids += [i["id"] for i in items]
        if len(items) < PAGE:
            break
        page += 1
    return ids, requests


async def _batched(session: aiohttp.ClientSession, url: str, batch: int = 8) -> tuple[list[str], int]:
    ids, page, requests = [], 1, 0

    async def get(n: int) -> list[dict[str, Any]]:
        async with session.get(url, params={"page": n, "limit": PAGE}) as r:
            return await r.json() if r.status == 200 else []  # type: ignore[no-any-return]

    while requests < CUTOFF:
        pages = await asyncio.gather(*(get(page + i) for i in range(batch)))
        requests += batch
        for items in pages:
            ids += [i["id"] for i in items]
            if len(items) < PAGE:
                return ids, requests
        page += batch
    return ids, requests


async def _aioglif(server: FakeGlifServer) -> tuple[list[str], int, str]:
    async with GlifClient(server.token, api_url=server.api_url, rate=None) as client:
        listing = client.glifs(page_size=PAGE)
        ids: list[str] = []
        note = ""
        try:
            async for g in listing:
                ids.append(g.id)
        except GlifError as exc:
            note = type(exc).__name__
        return ids, listing.stats.requests, note


async def _listing_rows(glifs: int) -> list[str]:
    rows = []
    for name, behaviour in _profiles().items():
        for contender in ("sequential loop", "batches of 8", "aioglif"):
            data = FakeData.generate(seed=2, users=50, glifs=glifs, runs=0, spheres=0)
            before = {g["id"] for g in data.public_glifs}
            async with FakeGlifServer(data, behaviour=behaviour) as server:
                url = server.api_url + "/glifs"
                note = ""
                if contender == "aioglif":
                    ids, requests, note = await _aioglif(server)
                else:
                    async with aiohttp.ClientSession() as session:
                        run = _sequential if contender == "sequential loop" else _batched
                        ids, requests = await run(session, url)
                    if requests >= CUTOFF:
                        note = f"cut off at {CUTOFF} requests"
            survivors = before - data.deleted_glifs
            missing = len(survivors - set(ids))
            dupes = len(ids) - len(set(ids))
            got = f"{missing:,} of {len(survivors):,}"
            rows.append(f"| {name} | {contender} | {got} | {dupes:,} | {requests:,} | {note} |")
    return rows


async def _crawl(data: FakeData, behaviour: Behaviour, out: Path, **client: Any) -> tuple[Crawl, int]:
    async with FakeGlifServer(data, behaviour=behaviour) as server:
        async with (
            GlifClient(server.token, api_url=server.api_url, rate=None, **client) as c,
            Crawl(c, Scope(all=True, runs=True), out) as crawl,
        ):
            await crawl.run()
        return crawl, len(server.requests)


async def _crawl_rows(glifs: int, runs: int, tmp: Path) -> list[str]:
    rows = []
    for name, behaviour in _profiles().items():
        data = FakeData.generate(seed=3, users=50, glifs=glifs, runs=runs, spheres=0)
        glif_ids = {g["id"] for g in data.public_glifs}
        run_ids = {r["id"]: r["spellId"] for r in data.public_runs}
        crawl, requests = await _crawl(data, behaviour, tmp / f"{len(rows)}.sqlite")
        with closing(sqlite3.connect(tmp / f"{len(rows)}.sqlite")) as db:
            got_g = {r[0] for r in db.execute("SELECT id FROM glifs")}
            got_r = {r[0] for r in db.execute("SELECT id FROM runs")}
        sg = glif_ids - data.deleted_glifs
        sr = {r for r, g in run_ids.items() if r not in data.deleted_runs and g not in data.deleted_glifs}
        s = crawl.summary()
        rows.append(
            f"| {name} | {len(sg - got_g):,} of {len(sg):,} | {len(sr - got_r):,} of {len(sr):,} |"
            f" {requests:,} | {crawl.status} | {s['gone']} | {s['relisted']} |"
        )
    return rows


async def _overhead(glifs: int, runs: int, tmp: Path) -> list[str]:
    """The default profile: the checks (page 0 once, a page past a short first page, the
    reconciliation's listing of the glifs) against the same crawl with them turned off."""
    from aioglif.crawl import _reconcile

    data = FakeData.generate(seed=4, users=50, glifs=glifs, runs=runs, spheres=0)
    _, with_checks = await _crawl(data, Behaviour(), tmp / "a.sqlite")
    rounds = _reconcile._RECONCILE_ROUNDS
    _reconcile._RECONCILE_ROUNDS = 0
    try:
        data = FakeData.generate(seed=4, users=50, glifs=glifs, runs=runs, spheres=0)
        _, without = await _crawl(data, Behaviour(), tmp / "b.sqlite", first_page=1)
    finally:
        _reconcile._RECONCILE_ROUNDS = rounds
    extra = with_checks - without
    return [
        f"| crawl of {glifs:,} glifs and {runs:,} runs | {without:,} | {with_checks:,} |"
        f" {extra:,} ({100 * extra / without:.2f}%) |"
    ]


def _memory(n: int = 200_000) -> list[str]:
    """What exact id memory costs: n run-like ids in the paginator's IdSet against a set of
    the ids (which keeps the strings alive once their items are gone)."""
    import gc
    import random
    import string
    import tracemalloc

    from aioglif._consistency import IdSet

    rng = random.Random(0)
    alphabet = string.ascii_lowercase + string.digits
    ids = ["".join(rng.choices(alphabet, k=24)) for _ in range(n)]
    rows = []
    for name, build in (("IdSet (64-bit hashes, sorted)", _idset), ("set of the id strings", _strset)):
        gc.collect()
        tracemalloc.start()
        kept = build(ids, IdSet)
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del kept
        rows.append(f"| {name} | {n:,} | {size / 1e6:.2f} MB | {size / n:.1f} |")
    return rows


def _idset(ids: list[str], cls: Any) -> Any:
    kept = cls()
    kept.update(ids)
    return kept


def _strset(ids: list[str], cls: Any) -> Any:
    return {"".join(i) for i in ids}  # own copies, as once the items are gone


def report(quick: bool) -> str:
    glifs = 600 if quick else 3000
    crawl_glifs, crawl_runs = (150, 1500) if quick else (1000, 10000)
    with tempfile.TemporaryDirectory() as tmp:
        listing = asyncio.run(_listing_rows(glifs))
        crawl = asyncio.run(_crawl_rows(crawl_glifs, crawl_runs, Path(tmp)))
        cost = asyncio.run(_overhead(crawl_glifs, crawl_runs, Path(tmp)))
    memory = _memory()
    pages = math.ceil(glifs / PAGE)
    return "\n".join(
        [
            f"### Variance: listing {glifs:,} glifs ({pages} pages of {PAGE}) on every profile",
            "",
            "| server profile | contender | missing | duplicates | requests | note |",
            "|---|---|---|---|---|---|",
            *listing,
            "",
            f"### Variance: `aioglif crawl --runs` of {crawl_glifs:,} glifs and {crawl_runs:,} runs",
            "",
            "| server profile | glifs missing | runs missing | requests | status | gone | runs re-listed |",
            "|---|---|---|---|---|---|---|",
            *crawl,
            "",
            "### What the checks cost on the documented behaviour (requests)",
            "",
            "| job | checks off | checks on | extra |",
            "|---|---|---|---|",
            *cost,
            "",
            "### Exact id memory (lists that are not newest-first)",
            "",
            "| kept as | ids | memory | bytes an id |",
            "|---|---|---|---|",
            *memory,
            "",
        ]
    )


if __name__ == "__main__":
    print(report(quick=True))
