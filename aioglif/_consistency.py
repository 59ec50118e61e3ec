"""Keeping a concurrent listing exact while the list grows at its head. Pure: no I/O.

A newest-first list of page size s, with i(t) items inserted at the head by time t: page k read
at t covers the items that were at positions [(k-1)s - i(t), ks - i(t)) when the listing began.
Two neighbouring pages read at t_k and t_k+1 leave a *gap* exactly when i(t_k) > i(t_k+1): page
k+1 was answered first and an insertion came in between. So:

- Sequential pages (one answered before the next was asked for) can only overlap: the
  duplicates are dropped by id.
- A boundary between pages whose requests overlapped in time may hide a gap. After the last
  page, one read of the head shows whether anything was inserted and when (``createdAt``); a
  boundary is suspect only if an insertion falls between its two pages' server ``Date``s.
- A suspect boundary is re-read from page k+1 on until page k+1's old first item shows up again;
  what lies between page k's last item and that anchor (by ``createdAt``) and was on no page
  is what the gap hid.

Dropping duplicates must not cost memory per item (a listing may be 200,000 runs long): ids are
kept for the last few pages only, and older pages are remembered by the oldest ``createdAt``
they held (newest-first order means anything newer than that was on them, or is new).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")

# Seconds of disagreement allowed between the API's createdAt clock and its Date header.
CLOCK_SKEW = 2.0


@dataclass(frozen=True)
class Boundary:
    before: int
    after: int


@dataclass(frozen=True)
class PageInfo:
    """What a page must remember once its items are gone: timing and its edges."""

    sent: float
    received: float
    served_at: float | None
    first_key: Hashable | None
    first_created: datetime | None
    first_edge: frozenset[Hashable]  # keys on the page created exactly at first_created
    last_created: datetime | None
    last_edge: frozenset[Hashable]

    @classmethod
    def of(
        cls,
        raw: Sequence[T],
        key: Callable[[T], Hashable],
        created: Callable[[T], datetime | None],
        sent: float,
        received: float,
        served_at: float | None,
    ) -> PageInfo:
        if not raw:
            return cls(sent, received, served_at, None, None, frozenset(), None, frozenset())
        stamps = [created(i) for i in raw]
        first, last = stamps[0], stamps[-1]
        return cls(
            sent,
            received,
            served_at,
            key(raw[0]),
            first,
            frozenset(key(i) for i, c in zip(raw, stamps, strict=True) if c == first),
            last,
            frozenset(key(i) for i, c in zip(raw, stamps, strict=True) if c == last),
        )

    def overlaps(self, other: PageInfo) -> bool:
        """Whether the two requests were in flight at the same time (their order is unknown)."""
        return self.sent < other.received and other.sent < self.received

    def holds(self, key: Hashable, created: datetime) -> bool:
        """Whether an item that existed when this page was read must have been on it."""
        if self.first_created is None or self.last_created is None:
            return False
        if self.last_created < created < self.first_created:
            return True
        return (created == self.first_created and key in self.first_edge) or (
            created == self.last_created and key in self.last_edge
        )


def in_gap(before: PageInfo, after: PageInfo, key: Hashable, created: datetime | None) -> bool:
    """Whether an item lies between page ``before``'s last item and page ``after``'s first."""
    if created is None or before.last_created is None:
        return True  # no timestamps to place it: let the id checks decide
    if created > before.last_created or (created == before.last_created and key in before.last_edge):
        return False
    if after.first_created is None:
        return True  # page ``after`` came back empty: the gap runs to the end of the list
    return created > after.first_created or (created == after.first_created and key not in after.first_edge)


def covered(pages: dict[int, PageInfo], key: Hashable, created: datetime | None, seen: Seen) -> bool:
    """Whether an item of the original list was on some page already read."""
    if created is None:
        return seen.contains(key, None)
    return any(info.holds(key, created) for info in pages.values()) or seen.recent_contains(key)


def suspect_boundaries(
    boundaries: Iterable[Boundary], pages: dict[int, PageInfo], inserted: Sequence[datetime | None]
) -> list[Boundary]:
    """The boundaries an insertion may have fallen between, judged by the server's clock."""
    if any(c is None for c in inserted):
        return list(boundaries)
    stamps = [c.timestamp() for c in inserted if c is not None]
    out = []
    for b in boundaries:
        x, y = pages[b.before].served_at, pages[b.after].served_at
        if x is None or y is None:
            out.append(b)
            continue
        # Date has one-second resolution: a page served at D was served within [D, D + 1).
        lo, hi = min(x, y) - CLOCK_SKEW, max(x, y) + 1 + CLOCK_SKEW
        if any(lo <= s <= hi for s in stamps):
            out.append(b)
    return out


class Seen:
    """The items a listing has yielded, in memory that does not grow with the listing.

    Ids are kept for the last ``keep`` pages of the contiguous prefix read so far; pages before
    those are summed up by their oldest ``createdAt`` (the *mark*). An item newer than the mark
    was on a forgotten page (or is new since the listing began). Items without ``createdAt``
    fall back to remembering every id.
    """

    def __init__(self, *, first: int, keep: int) -> None:
        self.keep = keep
        self.recent: dict[int, set[Hashable]] = {}
        self.recent_all: set[Hashable] = set()  # the union of ``recent``: one lookup per item
        self.oldest: dict[int, tuple[datetime, set[Hashable]]] = {}
        self.contiguous = first - 1  # every page up to here has been added
        self.mark: datetime | None = None
        self.mark_keys: set[Hashable] = set()
        self.everything: set[Hashable] = set()

    def recent_contains(self, key: Hashable) -> bool:
        return key in self.recent_all or key in self.everything

    def contains(self, key: Hashable, created: datetime | None) -> bool:
        if self.recent_contains(key):
            return True
        if self.mark is None or created is None:
            return False
        return created > self.mark or (created == self.mark and key in self.mark_keys)

    def add_page(self, number: int, entries: Sequence[tuple[Hashable, datetime | None]]) -> None:
        dated = [(k, c) for k, c in entries if c is not None]
        self.everything.update(k for k, c in entries if c is None)
        keys = {k for k, _ in dated}
        self.recent[number] = keys
        self.recent_all |= keys
        if dated:
            oldest = min(c for _, c in dated)
            self.oldest[number] = (oldest, {k for k, c in dated if c == oldest})
        while self.contiguous + 1 in self.recent:
            self.contiguous += 1
        # Forget only pages of the contiguous prefix: a page still in flight before them would
        # otherwise be judged against a mark older than its own items.
        for n in sorted(self.recent):
            if n > self.contiguous - self.keep:
                break
            self.recent_all -= self.recent.pop(n)
            if n in self.oldest:
                when, keys = self.oldest.pop(n)
                if self.mark is None or when < self.mark:
                    self.mark, self.mark_keys = when, keys
                elif when == self.mark:
                    self.mark_keys |= keys
