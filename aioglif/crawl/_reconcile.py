"""The crawl's reconciliation: deletions while a crawl runs shift items between pages, so the
main pass may step over some; rounds that list the glifs again, and the runs of the glifs that
look short, find them. Its own module: a second pass with its own rules, run after the main one."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .. import models as m
from ._store import Listing, Store

if TYPE_CHECKING:
    from ._crawler import Crawl

log = logging.getLogger("aioglif.crawl")

# Rounds of reconciliation at most: each lists the glifs again and the runs of the short ones.
_RECONCILE_ROUNDS = 3


async def reconcile(crawl: Crawl) -> None:
    """Deletions while the crawl ran shift items between pages, so a listing may have
    stepped over some glifs, and runs listings some runs. List the glifs again (and the
    runs, whole, of any glif with fewer runs stored than its fresh count); go on while a
    round's glifs differ from the round's before (something new, or something gone: a
    deletion that may have moved others past a page boundary) or it found runs that had
    been stepped over; a few rounds at most. When nothing moved: one more listing of the
    glifs, which doubles a glifs-only crawl's requests: the price of its exactness, since
    a page that lost an item to a deletion looks like any other."""
    store = crawl.store
    failed = {x.key for x in await crawl._in_db(store.listings, crawl._crawl_id, ("failed",))}
    # A root that failed is reported as failed: listing it again here would fail again.
    roots = [x for x in crawl.scope.roots() if x.kind in ("glifs", "sphere") and x.key not in failed]
    if not roots:
        return
    # The main pass's glifs per root (incomplete after a resume: then a round more runs).
    before = {x.key: crawl._seen.pop(x.key, set()) for x in roots}
    for round_ in range(1, _RECONCILE_ROUNDS + 1):
        crawl._reconciling = round_
        records = crawl.stats.records
        new = crawl.stats.new["runs"]
        relisted = crawl.stats.relisted
        again = [Listing(f"reconcile:{round_}:{x.key}", x.kind, x.target) for x in roots]
        await crawl._in_db(store.add_listings, crawl._crawl_id, again)
        await crawl._round()
        if crawl._stopping:
            break
        if await crawl._in_db(store.retry_failed, crawl._crawl_id):
            await crawl._round()
        now = {x.key: crawl._seen.pop(a.key, set()) for x, a in zip(roots, again, strict=True)}
        moved = now != before
        before = now
        log.info(
            "reconciliation round %d: glifs %s, %d runs listings again, %d records",
            round_,
            "moved" if moved else "unchanged",
            crawl.stats.relisted - relisted,
            crawl.stats.records - records,
        )
        runs_found = crawl.stats.relisted != relisted and crawl.stats.new["runs"] != new
        if not moved and not runs_found:
            break  # the glifs stood still for a whole listing, and no runs were stepped over
    crawl._reconciling = 0


async def relist_runs(crawl: Crawl, wanted: list[m.Glif]) -> list[Listing]:
    """The runs listings a reconciliation round reads again, of the glifs it listed."""
    # Only glifs with fewer runs stored than they have now: their listings stepped
    # over some (deletions moved them) or ran before they arrived. A glif without a
    # count was listed to its end already.
    stored = await crawl._in_db(stored_runs, crawl.store, crawl._crawl_id, [g.id for g in wanted])
    short = [
        g
        for g in wanted
        # Fewer stored than there are, or the count moved since its runs were listed
        # (a deleted run moves the others across pages: the stored count hides that).
        if g.completed_spell_run_count is not None
        and (
            g.completed_spell_run_count > stored.get(g.id, 0)
            or crawl._counts_seen.get(g.id, g.completed_spell_run_count) != g.completed_spell_run_count
        )
        # A listing that failed is reported as failed, not retried here once more.
        and f"runs:glif:{g.id}" not in crawl.stats.failures
    ]
    crawl._counts_seen.update((g.id, g.completed_spell_run_count or 0) for g in short)
    crawl.stats.relisted += len(short)
    return [
        Listing(f"runs:glif:{g.id}:again:{crawl._reconciling}", "runs", g.id, g.completed_spell_run_count)
        for g in short
    ]


def stored_runs(store: Store, crawl: int, glif_ids: list[str]) -> dict[str, int]:
    return {g: store.stored_runs(crawl, g) for g in glif_ids}
