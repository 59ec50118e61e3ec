"""What a page leads to: the runs listings of the glifs it brought, and the glifs of the agents
it brought, each followed once. Its own module: the rules of what to follow (skip a glif with
no runs; in an incremental crawl, only what grew; in a reconciliation, only what looks short)
are apart from how listings are scheduled and written."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from .. import models as m
from ._reconcile import relist_runs, stored_runs
from ._store import Listing

if TYPE_CHECKING:
    from ._crawler import Crawl


async def runs_to_follow(crawl: Crawl, glifs: list[m.Glif]) -> list[Listing]:
    # A count below 0 says nothing: taken for no count (one such glif stopped the whole crawl,
    # as a listing cannot expect -1 runs).
    glifs = [
        msgspec.structs.replace(g, completed_spell_run_count=None)
        if g.completed_spell_run_count is not None and g.completed_spell_run_count < 0
        else g
        for g in glifs
    ]
    # 0 runs: no request at all. No count at all is not 0: its runs are listed to the end. An
    # empty id names no glif: its "runs" would be a listing of runs unfiltered, every run there is.
    wanted = [g for g in glifs if g.completed_spell_run_count != 0 and g.id]
    if crawl._reconciling:
        return await relist_runs(crawl, wanted)
    crawl.stats.expected_runs += sum(g.completed_spell_run_count or 0 for g in wanted)
    if crawl.scope.runs:
        crawl._counts_seen.update((g.id, g.completed_spell_run_count or 0) for g in glifs)
    if crawl.incremental:
        # Only glifs whose count grew beyond the runs already stored.
        stored = await crawl._in_db(stored_runs, crawl.store, crawl._crawl_id, [g.id for g in wanted])
        wanted = [
            g
            for g in wanted
            if g.completed_spell_run_count is None or g.completed_spell_run_count > stored.get(g.id, 0)
        ]
    return [Listing(f"runs:glif:{g.id}", "runs", g.id, g.completed_spell_run_count) for g in wanted]


def runs_of_unreadable(crawl: Crawl, raws: list[bytes]) -> list[Listing]:
    """The runs of glifs the models cannot read (quarantined): still in the crawl's scope.

    Listed by the record's id, to their end (a count from a record that did not decode is not
    trusted); without this, a glif with one malformed field lost all its runs, and the crawl
    said complete.
    """
    if crawl._reconciling:
        return []  # the main pass followed them already
    ids = [g for record in _objects(raws) if isinstance(g := record.get("id"), str) and g]
    return [Listing(f"runs:glif:{g}", "runs", g, None) for g in dict.fromkeys(ids)]


async def glifs_of_bots(crawl: Crawl, bots: list[m.Bot], unreadable: Sequence[bytes] = ()) -> list[Listing]:
    """The glifs the agents use that the database does not hold yet; also those of agents the
    models cannot read (quarantined), from their records' skills."""
    used = [g for b in bots for g in b.glif_ids] + _skills_of_unreadable(unreadable)
    # Several agents listings run at once and share glifs: each is followed once.
    ids = [g for g in dict.fromkeys(used) if g not in crawl._bot_glifs]
    crawl._bot_glifs.update(ids)
    if crawl.incremental:  # a known glif is asked again: its run count may have grown
        return [Listing(f"bot-glif:{g}", "glif", g) for g in ids]
    known = await crawl._in_db(crawl.store.known, crawl._crawl_id, "glifs", ids)
    return [Listing(f"bot-glif:{g}", "glif", g) for g in ids if g not in known]


def _skills_of_unreadable(raws: Sequence[bytes]) -> list[str]:
    """The glif ids in quarantined agents' ``spellsForBot``, read as ``Bot.glif_ids`` reads them."""
    found: list[str] = []
    for record in _objects(raws):
        skills = record.get("spellsForBot")
        for skill in skills if isinstance(skills, list) else []:
            if not isinstance(skill, dict):
                continue
            spell = skill.get("spell")
            glif_id = spell.get("id") if isinstance(spell, dict) else skill.get("spellId")
            if isinstance(glif_id, str) and glif_id.strip():
                found.append(glif_id)
    return found


def _objects(raws: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The quarantined records that are still JSON objects (the others name nothing to follow)."""
    for raw in raws:
        try:
            record = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            continue
        if isinstance(record, dict):
            yield record
