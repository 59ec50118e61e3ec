"""One iteration of a paginator: the window of pages in flight, the order they are handed out
in, the end of the list, and what was seen (see :mod:`aioglif.pagination`)."""

from __future__ import annotations

import math
import operator
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

from . import _errors as e
from . import _paging, _repair
from ._consistency import PageInfo, Seen
from ._page import Fetched, Page
from ._page import merge as _merge
from ._page import now as _now
from ._stats import Stats

if TYPE_CHECKING:
    from .pagination import AsyncPaginator

T = TypeVar("T")

# Seconds a closing listing waits for its cancelled fetches to unwind.
_CLOSE_TIMEOUT = 5.0
_DONE = operator.attrgetter("done")  # counted over the slots in C, once a page


class Slot(Generic[T]):
    """One page being fetched, or fetched and not yet yielded."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.scope: anyio.CancelScope | None = None  # only a page fetched in a task of its own
        self.stats = Stats()
        self.result: Fetched[T] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.sent = _now()
        self.received = math.inf


class Listing(Generic[T]):
    """The state of one iteration of a paginator."""

    def __init__(self, pager: AsyncPaginator[T], size: int | None = None) -> None:
        self.p = pager
        # The page size asked for: what the caller wants, or less where the server serves less.
        self.size = size or min(pager.page_size, pager.facts.cap or pager.page_size)
        self.slots: dict[int, Slot[T]] = {}
        # Set when a page's task ends; made anew by whoever waits, before waiting.
        self.changed: anyio.Event | None = None
        self.started = False
        self.first = pager._first if pager._first is not None else 1
        self.next_to_schedule = self.first
        self.next_to_yield = self.first  # ordered mode
        self.first_keys: frozenset[Hashable] = frozenset()  # what page ``first`` held
        self.cautious = False  # one page at a time: the server's paging is in doubt
        self.stale = 0  # full pages in a row that brought nothing new
        self.prints: dict[int, int] = {}  # a fingerprint of each full page's items, by number
        self.resized = False  # the first page was short of a size not known to be served
        self.newest = True  # every page so far was newest-first by createdAt
        self.prev_first: datetime | None = None
        self.yielded_pages = 0
        self.end: int | None = None  # the first page that came back short
        self.cut: int | None = None  # the first page an error makes unreachable (ordered mode)
        # The first page always goes alone: it is the snapshot the head check compares against.
        self.window = 1
        self.planned_end: int | None = None  # with expected=: no page past it until it came back full
        self.last_page: int | None = None  # with max_items=: no page past it is needed
        self._plan()
        self.remaining = pager.max_items
        self.seen = Seen(first=self.first, keep=pager.concurrency + 2)
        self.info: dict[int, PageInfo] = {}
        self.recovered: list[Page[T]] = []
        self.finished = False
        self.live = 0  # fetch tasks of this listing still running
        self.adopted: Slot[T] | None = None  # the first page, fetched before this state existed

    def adopt(self, number: int, sent: float, received: float, fetched: Fetched[T]) -> None:
        """Go on from a first page fetched inline by the paginator, as if fetched here."""
        self.started = True
        self._begin(number)
        slot: Slot[T] = Slot(number)
        slot.sent, slot.received, slot.result, slot.done = sent, received, fetched, True
        self.slots[number] = slot
        self.next_to_schedule = number + 1
        self.adopted = slot

    def _plan(self, done: int = 0) -> None:
        """Where ``expected`` and ``max_items`` put the last page, at the current page size."""
        p, base = self.p, self.first + done
        if p.expected is not None:
            self.planned_end = base + max(1, math.ceil(max(0, p.expected - done * self.size) / self.size)) - 1
        if p.max_items is not None:
            self.last_page = base + math.ceil(max(1, p.max_items - done * self.size) / self.size) - 1

    # --- finding out how the server pages ---------------------------------------------------
    def _begin(
        self, first: int, fetched: Sequence[tuple[int, tuple[tuple[float, float], Fetched[T]]]] = ()
    ) -> None:
        if first != self.first:
            self.first = self.next_to_schedule = self.next_to_yield = first
            self.seen = Seen(first=first, keep=self.p.concurrency + 2)
            self._plan()
        for number, ((sent, received), result) in fetched:
            slot: Slot[T] = Slot(number)
            slot.sent, slot.received, slot.result, slot.done = sent, received, result, True
            self.slots[number] = slot
            self.next_to_schedule = number + 1

    # --- scheduling ------------------------------------------------------------------------

    def _note_ends(self) -> None:
        """A short page ends the listing as soon as it arrives, not when it is consumed: no
        page past it is asked for, and those in flight past it are cancelled."""
        size, first_in = self.size, bool(self.yielded_pages)
        for slot in list(self.slots.values()):
            result = slot.result
            if result is None or len(result.items) >= size:
                continue  # in flight, or full: no end (the usual case, asked once a page)
            if slot.number != self.first and not first_in:
                continue  # page sizes are in doubt until the first page is in
            if (self.end is None or slot.number < self.end) and _paging.ends(
                self, slot.number, len(result.items)
            ):
                self.end = slot.number
        if self.end is not None:
            for slot in [s for s in self.slots.values() if s.number > self.end]:
                self._drop(slot)

    def _top_up(self) -> None:
        self._note_ends()
        # ``window`` pages in flight; up to twice that fetched or in flight ahead of the
        # consumer, so that one slow page does not stall the pipe behind it (head-of-line),
        # and a slow consumer still holds back the fetching.
        window = 1 if self.cautious else self.window
        while (
            len(self.slots) - sum(map(_DONE, self.slots.values())) < window and len(self.slots) < 2 * window
        ):
            n = self.next_to_schedule
            for limit in (self.end, self.cut, self.last_page, self.planned_end):
                if limit is not None and n > limit:
                    return
            slot: Slot[T] = Slot(n)
            slot.scope = anyio.CancelScope()
            self.slots[n] = slot
            self.next_to_schedule += 1
            # Counted from the spawn, not from the task's start: closing must wait for both.
            self.p.in_flight += 1
            self.live += 1
            try:
                self.p._spawn(lambda slot=slot: self._run(slot))  # type: ignore[misc]
            except BaseException:
                self.p.in_flight -= 1
                self.live -= 1
                del self.slots[n]
                raise

    async def _run(self, slot: Slot[T]) -> None:
        assert slot.scope is not None
        try:
            with slot.scope:
                slot.result = await self.p._fetch(slot.number, self.size, slot.stats)
        except Exception as exc:  # kept for the consumer: never let it into the client's task group
            slot.error = exc
        finally:
            self.p.in_flight -= 1
            self.live -= 1
            slot.received = _now()
            slot.done = True
            if slot.result is None and slot.error is None and not slot.scope.cancel_called:
                slot.error = e.ClientClosedError("the client was closed while the listing ran")
            _merge(self.p.stats, slot.stats)
            if self.changed is not None:
                self.changed.set()

    def _inline_next(self) -> bool:
        """Whether the next page is fetched in the consumer's own task: one page at a time and
        nothing in flight, so a task and a cancel scope of its own would buy nothing (the
        consumer's cancellation is the page's)."""
        if self.slots or (1 if self.cautious else self.window) != 1:
            return False
        n = self.next_to_schedule
        if self.p.ordered and n != self.next_to_yield:
            return False
        # Spelled out, not a generator over the four: this runs once a page.
        end, cut, last, planned = self.end, self.cut, self.last_page, self.planned_end
        return (
            (end is None or n <= end)
            and (cut is None or n <= cut)
            and (last is None or n <= last)
            and (planned is None or n <= planned)
        )

    async def _fetch_inline(self) -> Slot[T]:
        n = self.next_to_schedule
        slot: Slot[T] = Slot(n)
        self.slots[n] = slot
        self.next_to_schedule += 1
        self.p.in_flight += 1
        try:
            # Counted straight into the listing's counters: a page fetched in the consumer's
            # task is never dropped unsent, so it needs no counters of its own to merge.
            slot.result = await self.p._fetch(n, self.size, self.p.stats)
        except Exception as exc:
            slot.error = exc
        finally:
            self.p.in_flight -= 1
            slot.received = _now()
            slot.done = True
        return slot

    def _drop(self, slot: Slot[T]) -> None:
        """Forget a page past the end; its request, if it was sent, was wasted."""
        if slot.scope is not None:
            slot.scope.cancel()
        del self.slots[slot.number]
        if slot.stats.requests or not slot.done:
            # A cancelled page may or may not have been sent yet: count it when we know it was.
            self.p.stats.wasted += 1 if slot.stats.requests else 0

    def close(self) -> None:
        for slot in self.slots.values():
            if slot.scope is not None:
                slot.scope.cancel()
        self.slots.clear()

    async def aclose(self) -> None:
        """Cancel every fetch of this listing and wait until they are gone."""
        self.close()
        if not self.live:
            return
        # Shielded, so that a listing closed by cancellation still cleans up; bounded, so that
        # a fetch that ignores cancellation cannot hang the caller.
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT):
            while self.live:
                self.changed = anyio.Event()
                await self.changed.wait()

    async def _wait(self) -> Slot[T] | None:
        """The next slot to hand out: in page order, or any finished one when unordered."""
        while True:
            if self.p.ordered:
                slot = self.slots.get(self.next_to_yield)
                if slot is None:
                    return None
                if slot.done:
                    return slot
                failed = [s.number for s in self.slots.values() if s.done and s.error is not None]
                if failed and (self.cut is None or min(failed) < self.cut):
                    # Pages after a failed one cannot be yielded in order: stop fetching them now.
                    self.cut = min(failed)
                    for s in [s for s in self.slots.values() if s.number > self.cut]:
                        if s.scope is not None:
                            s.scope.cancel()
                        del self.slots[s.number]
            else:
                for slot in self.slots.values():
                    if slot.done:
                        return slot
                if not self.slots:
                    return None
            # A page finished that is not the one we wait for: its place in the window is
            # free, so fill it now rather than when the awaited page arrives.
            self._top_up()
            self.changed = anyio.Event()
            await self.changed.wait()

    # --- handing out pages -----------------------------------------------------------------

    async def next_page(self) -> Page[T] | None:
        if not self.started:
            await _paging.start(self)
        while True:
            if self.recovered:
                return self.recovered.pop(0)
            if self.finished:
                return None
            self._note_ends()
            if self.adopted is not None:
                slot: Slot[T] | None = self.adopted
                self.adopted = None
            elif self._inline_next():
                slot = await self._fetch_inline()
            else:
                self._top_up()
                slot = await self._wait()
            if slot is None:
                self.finished = True
                continue
            if slot.error is not None:
                await self.aclose()
                raise slot.error
            page = await self._accept(slot)
            if page is not None:
                return page

    async def _accept(self, slot: Slot[T]) -> Page[T] | None:
        assert slot.result is not None
        del self.slots[slot.number]
        raw = slot.result.items
        n = slot.number
        facts = self.p.facts
        # Each item's key and createdAt, read once for every check below (in C: ``map``).
        keys: list[Hashable] = list(map(self.p._key, raw))
        stamps: list[datetime | None] = list(map(self.p._created, raw))
        if n == self.first + 1 and self.resized and raw:
            # Page 1 was short, and page 2 (asked at that size) is not empty: the server
            # serves at most that many a page. Remembered for this path.
            facts.cap = self.size if facts.cap is None else min(facts.cap, self.size)
            facts.full_at = max(facts.full_at, self.size)
            facts.note(f"pages hold at most {self.size} items")
        if len(raw) < self.size and raw and not _paging.ends(self, n, len(raw)):
            # Short, but maybe only because the server serves fewer than asked: go on at the
            # size served, one page at a time, and let the next page tell.
            self.size, self.resized, self.cautious = len(raw), True, True
            self.p.stats.probe_requests += 1  # the page it takes to find out
            self._plan(1)
        full = len(raw) >= self.size
        if full and not self.resized:
            facts.full_at = max(facts.full_at, self.size)
        if full:
            if self.planned_end is not None and n < self.planned_end:
                # The caller told us how many to expect: open the window to the planned pages.
                self.window = max(self.window, min(self.p.concurrency, self.planned_end - n))
            else:
                self.window = min(self.p.concurrency, self.window * 2)
            if self.planned_end == n:
                self.planned_end = None
        elif self.end is None or n < self.end:
            self.end = n
            for s in [s for s in self.slots.values() if s.number > n]:
                self._drop(s)
        if self.end is not None and n > self.end:
            self.p.stats.wasted += 1  # answered (empty) before the end was known
            return None
        if not (n == self.first == self.end):
            # What the repair after insertions compares: a listing of one page has nothing
            # to repair, and most listings of a glif's runs are one page.
            self.info[n] = PageInfo.of(keys, stamps, slot.sent, slot.received, slot.result.date)
        if self.p.ordered:
            self.next_to_yield += 1
        self.yielded_pages += 1
        before = self.p.stats.duplicates
        items = self._fresh(n, raw, keys, stamps)
        if _paging.check_paging(self, n, keys, len(raw) - (self.p.stats.duplicates - before)):
            self.end = n  # past the end, answered with the last page: as an empty page would be
            for s in [s for s in self.slots.values() if s.number > n]:
                self._drop(s)
        done = self._complete()
        # (Repair compares pages read side by side: a listing of one page has none.)
        if done and self.p.verify and self.remaining != 0 and self.newest and len(self.info) > 1:
            self.recovered = await _repair.verify(self)
        if done:
            self.finished = True
        self.p.stats.pages += 1
        self.p.stats.items += len(items)
        if not items and not self.recovered:
            return None
        if not done and (1 if self.cautious else self.window) > 1:
            self._top_up()  # keep fetching while the consumer works on this page
        return Page(items, n, has_more=not done or bool(self.recovered))

    def _what(self) -> str:
        return self.p.name or "this listing"

    def _fresh(
        self, number: int, raw: list[T], keys: list[Hashable], stamps: list[datetime | None]
    ) -> list[T]:
        seen = self.seen
        if self.newest:
            _paging.check_order(self, stamps)
        if seen.empty or seen.none_of(keys, stamps):
            # The first page (often the only one), or a page with no repeat (nearly all).
            items = list(raw)
        else:
            contains = seen.contains
            items, kept_keys, kept_stamps = [], [], []
            for item, k, c in zip(raw, keys, stamps, strict=True):
                if contains(k, c):
                    self.p.stats.duplicates += 1
                    continue
                items.append(item)
                kept_keys.append(k)
                kept_stamps.append(c)
            keys, stamps = kept_keys, kept_stamps
        if not (number == self.first == self.end):
            seen.add_page(number, keys, stamps)  # (a listing of one page asks nothing of it again)
        if self.remaining is not None:
            items = items[: self.remaining]
            self.remaining -= len(items)
        return items

    def _complete(self) -> bool:
        if self.remaining == 0:
            return True
        if self.end is None:
            return False
        return self.yielded_pages >= self.end - self.first + 1 and not any(
            s.number <= self.end for s in self.slots.values()
        )
