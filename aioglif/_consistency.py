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
they held (newest-first order means anything newer than that was on them, or is new). That holds
only while the pages *prove* the list newest-first: the API does not document its order. The
first page that is not newest-first turns the memory exact (:class:`IdSet`, every id from then
on, about 20 bytes each) and ends the watermark and the insertion repair for that listing.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import compress, islice, repeat
from operator import eq, ge, is_not
from typing import Any, TypeVar

from ._protocol import parse_http_date

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
    date: str | None  # the server's Date header: parsed only if a boundary is ever judged by it
    first_key: Hashable | None
    first_created: datetime | None
    first_edge: frozenset[Hashable]  # keys on the page created exactly at first_created
    last_created: datetime | None
    last_edge: frozenset[Hashable]

    @classmethod
    def of(
        cls,
        keys: Sequence[Hashable],
        stamps: Sequence[datetime | None],
        sent: float,
        received: float,
        date: str | None,
    ) -> PageInfo:
        """A page's facts from its items' keys and ``createdAt`` (in the page's order)."""
        if not keys:
            return cls(sent, received, date, None, None, frozenset(), None, frozenset())
        first, last = stamps[0], stamps[-1]
        # The keys of the items as old as each edge, picked in C (a page is read per 100 items).
        return cls(
            sent,
            received,
            date,
            keys[0],
            first,
            frozenset(compress(keys, map(eq, stamps, repeat(first)))),
            last,
            frozenset(compress(keys, map(eq, stamps, repeat(last)))),
        )

    @property
    def served_at(self) -> float | None:
        """When the server answered (its ``Date``, seconds since the epoch), if it said."""
        return parse_http_date(self.date)

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


@dataclass
class ListingFacts:
    """What a client has learned about one listing path (``/glifs``, ``/runs``, ...), shared by
    all its listings of that path: page numbering, the page size really served, ``page``."""

    first_page: int | None = None  # 0 or 1 once a listing found out
    full_at: int = 0  # the largest limit a page was served in full: shorter pages are ends
    cap: int | None = None  # the most items the server serves a page, when below what was asked
    ignores_page: bool = False
    learned: list[str] = field(default_factory=list)  # how each fact was found, for reports

    def note(self, what: str) -> None:
        if len(self.learned) < 20:
            self.learned.append(what)


# Whether a createdAt is there (not None), asked in C: ``filter(None, ...)`` would also drop "".
_KNOWN: Callable[[object], bool] = partial(is_not, None)


def newest_first(stamps: Iterable[T | None], *, after: T | None = None) -> bool:
    """Whether one page's ``createdAt`` never increases, nor rises above ``after`` (the previous
    page's first); items without one are no evidence. Datetimes, or ISO strings alike."""
    # Asked of every page: the comparisons run in C (``map`` over pairs), not a loop per item.
    known: list[Any] = list(filter(_KNOWN, stamps))
    if after is not None:
        known.insert(0, after)
    return all(map(ge, known, islice(known, 1, None)))


class IdSet:
    """Exact-enough membership for very many ids in little memory: their 64-bit hashes, kept in
    one sorted array (8 bytes an id) plus a small set of recent ones merged in geometrically.

    Two different ids share a 64-bit hash with probability about n²/2**65 (10⁻⁹ at 200,000
    ids); such a collision would make the second one look seen.
    """

    def __init__(self) -> None:
        self._sorted: array[int] = array("q")
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, key: Hashable) -> bool:
        h = hash(key)
        if h in self._recent:
            return True
        i = bisect_left(self._sorted, h)
        return i < len(self._sorted) and self._sorted[i] == h

    def add(self, key: Hashable) -> None:
        self.update((key,))

    def update(self, keys: Iterable[Hashable]) -> None:
        """Add ids not yet in the set (an id added twice only costs its 8 bytes twice)."""
        self._recent.update(map(hash, keys))
        if len(self._recent) > max(1024, len(self._sorted) >> 3):
            # Two sorted runs: Timsort merges them in linear time.
            merged = list(self._sorted)
            merged.extend(sorted(self._recent))
            merged.sort()
            self._sorted = array("q", merged)
            self._recent.clear()


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
        self.everything = IdSet()
        self.exact = False  # the list is not newest-first: every id is kept, the mark unused

    def make_exact(self) -> None:
        """The pages showed the list is not newest-first: from now on keep every id."""
        if not self.exact:
            self.exact = True
            self.everything.update(self.recent_all)

    @property
    def empty(self) -> bool:
        """No page was added yet: nothing can be a repeat."""
        return not self.recent and self.mark is None and not len(self.everything)

    def recent_contains(self, key: Hashable) -> bool:
        return key in self.recent_all or key in self.everything

    def contains(self, key: Hashable, created: datetime | None) -> bool:
        # Asked once an item: the id set (empty unless items lack createdAt or the order was
        # disproved) is not searched while it holds nothing.
        if key in self.recent_all:
            return True
        everything = self.everything
        if (everything._recent or everything._sorted) and key in everything:
            return True
        if self.exact or self.mark is None or created is None:
            # A mark set before the order was disproved is not trusted: an item newer than it
            # may have been on no page. Yielding it twice is the lesser harm than skipping it.
            return False
        return created > self.mark or (created == self.mark and key in self.mark_keys)

    def none_of(self, keys: Sequence[Hashable], stamps: Sequence[datetime | None]) -> bool:
        """Whether :meth:`contains` is False for every item: what almost every page of a listing
        is, found out in C rather than an item at a time."""
        if not self.recent_all.isdisjoint(keys):
            return False
        everything = self.everything
        if everything._recent or everything._sorted:
            return False  # ids to look up one by one
        if self.exact or self.mark is None:
            return True
        dated: list[datetime] = list(filter(_KNOWN, stamps))  # type: ignore[arg-type]  # (None filtered out)
        return not dated or max(dated) < self.mark

    def add_page(self, number: int, keys: Sequence[Hashable], stamps: Sequence[datetime | None]) -> None:
        """A page's items, by their keys and ``createdAt`` (two lists in the page's order)."""
        if self.exact:
            self.everything.update(keys)
            return
        dated: Sequence[datetime] = stamps  # type: ignore[assignment]  # (None is sorted out here)
        if None in stamps:
            pairs = list(zip(keys, stamps, strict=True))
            self.everything.update(k for k, c in pairs if c is None)
            keys = [k for k, c in pairs if c is not None]
            dated = [c for c in stamps if c is not None]
        kept = set(keys)
        self.recent[number] = kept
        self.recent_all |= kept
        if dated:
            oldest = min(dated)
            self.oldest[number] = (oldest, set(compress(keys, map(eq, dated, repeat(oldest)))))
        while self.contiguous + 1 in self.recent:
            self.contiguous += 1
        # Forget only pages of the contiguous prefix: a page still in flight before them would
        # otherwise be judged against a mark older than its own items.
        for n in sorted(self.recent):
            if n > self.contiguous - self.keep:
                break
            self.recent_all -= self.recent.pop(n)
            if n in self.oldest:
                when, edge = self.oldest.pop(n)
                if self.mark is None or when < self.mark:
                    self.mark, self.mark_keys = when, edge
                elif when == self.mark:
                    self.mark_keys |= edge
