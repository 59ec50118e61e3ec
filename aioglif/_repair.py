"""Consistency under insertion: after a concurrent listing of a newest-first list, re-read the
page boundaries that items inserted at the head during the listing may have pushed items across.
See :mod:`aioglif._consistency` for the rules."""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ._consistency import Boundary, covered, in_gap, suspect_boundaries
from ._page import Fetched, Page
from ._page import merge as _merge
from ._stats import Stats

if TYPE_CHECKING:
    from ._listing import Listing

T = TypeVar("T")

# How many pages of the head to read, at most, when counting the items inserted during a listing.
_MAX_HEAD_PAGES = 20
# How many pages to re-read, at most, past one suspect boundary before giving up on its anchor.
_MAX_REREAD_PAGES = 20


async def fetch_counted(lst: Listing[T], number: int) -> Fetched[T]:
    sink = Stats()
    try:
        return await lst.p._fetch(number, lst.size, sink)
    finally:
        _merge(lst.p.stats, sink)
        lst.p.stats.verify_requests += sink.requests - sink.retries


async def verify(lst: Listing[T]) -> list[Page[T]]:
    """Re-read the boundaries that insertions during the listing may have shifted."""
    first = lst.first
    pages = sorted(lst.info)
    overlapped = [
        Boundary(a, b)
        for a, b in itertools.pairwise(pages)
        if b == a + 1 and lst.info[a].overlaps(lst.info[b])
    ]
    head = lst.info.get(first)
    if not overlapped or head is None or head.first_key is None:
        return []  # sequential pages only duplicate, never skip
    inserted: list[datetime | None] = []
    for n in range(first, first + _MAX_HEAD_PAGES):
        fetched = await fetch_counted(lst, n)
        keys = [lst.p._key(i) for i in fetched.items]
        if head.first_key in keys:
            inserted += [lst.p._created(i) for i in fetched.items[: keys.index(head.first_key)]]
            break
        inserted += [lst.p._created(i) for i in fetched.items]
        if len(fetched.items) < lst.size:
            inserted.append(None)  # the old head is gone (deleted?): suspect everything
            break
    if not inserted:
        return []
    out: list[Page[T]] = []
    taken: set[Hashable] = set()
    for boundary in suspect_boundaries(overlapped, lst.info, inserted):
        found = await reread(lst, boundary, taken)
        if found:
            lst.p.stats.recovered += len(found)
            lst.p.stats.items += len(found)
            out.append(Page(found, boundary.after, has_more=True, recovered=True))
    if out:
        out[-1] = Page(out[-1].items, out[-1].number, has_more=False, recovered=True)
    return out


async def reread(lst: Listing[T], boundary: Boundary, taken: set[Hashable]) -> list[T]:
    """Read on from page ``after`` until its old first item shows up again."""
    before, after = lst.info[boundary.before], lst.info[boundary.after]
    found: list[T] = []
    for n in range(boundary.after, boundary.after + _MAX_REREAD_PAGES):
        fetched = await fetch_counted(lst, n)
        anchor_seen = False
        for item in fetched.items:
            k, c = lst.p._key(item), lst.p._created(item)
            if k == after.first_key:
                anchor_seen = True
                break
            if k not in taken and in_gap(before, after, k, c) and not covered(lst.info, k, c, lst.seen):
                taken.add(k)
                found.append(item)
        if anchor_seen or len(fetched.items) < lst.size:
            break
    return found
