"""Listing the Glif API: ``?page=N&limit=M`` over bare arrays, newest first, the end a short page.

``async for item in paginator`` streams items; ``paginator.pages()`` streams :class:`Page` objects;
``await paginator.first_page()`` and ``await paginator.collect()`` cover the small cases.

Pages are fetched concurrently through the client's limiter. The window of pages in flight starts
at one and doubles while pages come back full, up to ``concurrency``; pages fetched ahead of the
consumer are held up to twice the window, so memory is bounded and a slow consumer slows the
fetching. A short page ends the listing and cancels what is in flight past it. Fetching runs in
the client's task group, each page in its own cancel scope, so leaving an ``async for`` early
cancels exactly this listing.

Concurrent paging over a list that grows at its head can *skip* items: if page k+1 is answered
before an insertion and page k after it, the items pushed across that boundary are in neither.
See :mod:`aioglif._consistency` for how such boundaries are found and re-read.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Hashable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Generic, TypeVar

import anyio

from . import _errors as e
from ._consistency import (
    Boundary,
    ListingFacts,
    PageInfo,
    Seen,
    covered,
    in_gap,
    newest_first,
    suspect_boundaries,
)
from ._errors import APIStatusError, PageIgnoredError, RateLimitedError, TransportError
from ._protocol import MAX_LIMIT, check_limit
from ._sender import Stats

__all__ = ["AsyncPaginator", "Fetched", "ListingStats", "Page"]

T = TypeVar("T")

# Seconds a closing listing waits for its cancelled fetches to unwind.
_CLOSE_TIMEOUT = 5.0
# How many pages of the head to read, at most, when counting the items inserted during a listing.
_MAX_HEAD_PAGES = 20
# How many pages to re-read, at most, past one suspect boundary before giving up on its anchor.
_MAX_REREAD_PAGES = 20


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing.

    ``has_more`` is False on the last page. ``recovered`` pages come after the last regular
    page: items that insertions during the listing pushed across a page boundary.
    """

    items: list[T]
    number: int
    has_more: bool
    recovered: bool = False


@dataclass
class ListingStats(Stats):
    """A listing's counters: the client's (requests, retries, 429s, bytes) and its own."""

    pages: int = 0
    items: int = 0
    duplicates: int = 0  # items dropped because this listing had yielded them already
    wasted: int = 0  # requests for pages that turned out to lie past the end
    verify_requests: int = 0  # head reads and boundary re-reads after insertions
    recovered: int = 0  # items found only by re-reading a boundary
    probe_requests: int = 0  # requests that found out how the server pages (page 0, a page size)
    exact_ids: bool = False  # the list was not newest-first: every id was remembered


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A fetched page: its items and the server's ``Date`` header, if sent."""

    items: list[T]
    date: str | None = None


Fetch = Callable[[int, int, Stats], Awaitable[Fetched[T]]]
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


_COUNTERS = tuple(f.name for f in fields(Stats))
# When a page was asked for and answered, compared only with other pages' times: the plain
# monotonic clock (what the asyncio loop's time is) without a lookup of the async backend.
_now = time.monotonic


def _merge(into: Stats, part: Stats) -> None:
    if not part.requests and not part.errors:
        return  # nothing was sent: every counter is still 0
    for name in _COUNTERS:
        setattr(into, name, getattr(into, name) + getattr(part, name))


class _Slot(Generic[T]):
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


class AsyncPaginator(Generic[T]):
    """A listing. Nothing is sent until it is iterated; iterating again lists again.

    No item is yielded twice in one listing, and none that existed when it began is skipped,
    even while new items are inserted at the head of the list.
    """

    def __init__(
        self,
        fetch: Fetch[T],
        *,
        spawn: Spawn,
        key: Callable[[T], Hashable],
        created: Callable[[T], datetime | None],
        page_size: int = MAX_LIMIT,
        max_items: int | None = None,
        concurrency: int = 8,
        expected: int | None = None,
        ordered: bool = True,
        verify: bool = True,
        first_page: int | None = None,
        facts: ListingFacts | None = None,
        facts_lock: anyio.Lock | None = None,
        name: str | None = None,
        probe: Fetch[T] | None = None,
    ) -> None:
        check_limit(page_size)
        if max_items is not None and (isinstance(max_items, bool) or max_items < 1):
            raise ValueError(f"max_items must be a positive int or None, got {max_items!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        if expected is not None and (isinstance(expected, bool) or expected < 0):
            raise ValueError(f"expected must be a non-negative int or None, got {expected!r}")
        self._fetch = fetch
        # One attempt, for the page-0 question: a server that refuses page 0 is answered,
        # not asked five times.
        self._probe_fetch = probe
        self._spawn = spawn
        self._key = key
        self._created = created
        self.page_size = page_size
        self.max_items = max_items
        self.concurrency = concurrency
        self.expected = expected
        self.ordered = ordered
        self.verify = verify
        # None: from the first page, whatever number the server gives it (found out once per
        # path and client, and kept in ``facts``); a number: from that page on (a resumption).
        self._first = first_page
        self.name = name  # what the listing is, for messages: e.g. "runs of glif cl123"
        self.facts = facts if facts is not None else ListingFacts()
        self._facts_lock = facts_lock if facts_lock is not None else anyio.Lock()
        self.stats = ListingStats()
        self.in_flight = 0  # page fetches running now, across this paginator's iterations

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        if self.expected == 0:
            return  # the caller knows the list is empty: not even one request
        listing = _Listing(self)
        try:
            while (page := await listing.next_page()) is not None:
                yield page
        finally:
            await listing.aclose()

    async def __aiter__(self) -> AsyncGenerator[T, None]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for item in page.items:
                    yield item

    async def first_page(self) -> Page[T]:
        """The first page alone: one request (two while the client does not know yet whether
        pages count from 0: page 0 is asked first, and page 1 if it is refused or empty)."""
        number = self._first if self._first is not None else self.facts.first_page
        size = min(self.page_size, self.facts.cap or self.page_size)
        fetched: Fetched[T] | None = None
        if number is None:
            try:
                fetched = await self._fetch_one(0, size)
            except APIStatusError:
                fetched = None
            if fetched is not None and fetched.items:
                number = 0  # the first items, whether pages count from 0 or page 0 is page 1
            else:
                self.facts.first_page = number = 1
                self.facts.note("page 0 refused or empty: pages count from 1")
                fetched = None
        if fetched is None:
            fetched = await self._fetch_one(number, size)
        items = fetched.items if self.max_items is None else fetched.items[: self.max_items]
        self.stats.pages += 1
        self.stats.items += len(items)
        if len(fetched.items) >= size:
            self.facts.full_at = max(self.facts.full_at, size)
        return Page(items, number, len(fetched.items) >= size)

    async def _fetch_one(self, number: int, size: int) -> Fetched[T]:
        sink = Stats()
        try:
            return await self._fetch(number, size, sink)
        finally:
            _merge(self.stats, sink)

    async def collect(self, max_items: int | None = None) -> list[T]:
        """All items (or the first ``max_items``) in a list."""
        if max_items is not None and max_items < 1:
            raise ValueError(f"max_items must be a positive int or None, got {max_items!r}")
        out: list[T] = []
        async with aclosing(self.__aiter__()) as items:
            async for item in items:
                out.append(item)
                if max_items is not None and len(out) >= max_items:
                    break
        return out


class _Listing(Generic[T]):
    """The state of one iteration of a paginator."""

    def __init__(self, pager: AsyncPaginator[T]) -> None:
        self.p = pager
        # The page size asked for: what the caller wants, or less where the server serves less.
        self.size = min(pager.page_size, pager.facts.cap or pager.page_size)
        self.slots: dict[int, _Slot[T]] = {}
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

    def _plan(self, done: int = 0) -> None:
        """Where ``expected`` and ``max_items`` put the last page, at the current page size."""
        p, base = self.p, self.first + done
        if p.expected is not None:
            self.planned_end = base + max(1, math.ceil(max(0, p.expected - done * self.size) / self.size)) - 1
        if p.max_items is not None:
            self.last_page = base + math.ceil(max(1, p.max_items - done * self.size) / self.size) - 1

    # --- finding out how the server pages ---------------------------------------------------

    async def _start(self) -> None:
        """Find the first page's number, once per path and client: ask for page 0. Refused or
        empty: pages count from 1. The same items as page 1: pages count from 1 (or ``page``
        is ignored, which page 2 will show). Other items: pages count from 0."""
        self.started = True
        p, facts = self.p, self.p.facts
        if p._first is not None:
            return
        if facts.first_page is not None:
            self._begin(facts.first_page)  # found out already: no lock to take
            return
        async with p._facts_lock:
            if facts.first_page is not None:
                self._begin(facts.first_page)
                return
            zero = await self._probe(0)
            if zero is None or not zero[1].items:
                facts.first_page = 1
                facts.note("page 0 refused or empty: pages count from 1")
                self._begin(1)
                return
            one = await self._probe(1)
            assert one is not None  # page 1 is no probe: its errors are raised
            same = [p._key(i) for i in one[1].items] == [p._key(i) for i in zero[1].items]
            if not same and len(zero[1].items) < self.size:
                # Page 0 is first, and short: page 1 was asked at a size the server may not
                # serve, so it is asked again once page 0 has set the size.
                facts.first_page = 0
                facts.note("page 0 is the first page")
                self._begin(0, [(0, zero)])
            elif same:
                facts.first_page = 1
                facts.note("page 0 answers as page 1: pages count from 1")
                self._begin(1, [(1, one)])
                self.cautious = True  # or every page is page 1: page 2 alone will tell
            else:
                facts.first_page = 0
                facts.note("page 0 is the first page")
                self._begin(0, [(0, zero), (1, one)])

    async def _probe(self, number: int) -> tuple[tuple[float, float], Fetched[T]] | None:
        sink = Stats()
        sent = _now()
        try:
            if number == 0 and self.p._probe_fetch is not None:
                try:
                    fetched = await self.p._probe_fetch(number, self.size, sink)
                except (RateLimitedError, TransportError):
                    # No answer to the question: taken for "from 1", a server counting from 0
                    # would lose its page 0 unseen. Asked again as a read (the 429 pause and
                    # the retries apply); what that answers decides.
                    fetched = await self.p._fetch(number, self.size, sink)
            else:
                fetched = await self.p._fetch(number, self.size, sink)
        except APIStatusError:
            if number != 0:
                raise
            return None  # any other refusal of page 0: pages count from 1
        finally:
            _merge(self.p.stats, sink)
            if number == 0:
                self.p.stats.probe_requests += sink.requests
        return (sent, _now()), fetched

    def _begin(
        self, first: int, fetched: Sequence[tuple[int, tuple[tuple[float, float], Fetched[T]]]] = ()
    ) -> None:
        if first != self.first:
            self.first = self.next_to_schedule = self.next_to_yield = first
            self.seen = Seen(first=first, keep=self.p.concurrency + 2)
            self._plan()
        for number, ((sent, received), result) in fetched:
            slot: _Slot[T] = _Slot(number)
            slot.sent, slot.received, slot.result, slot.done = sent, received, result, True
            self.slots[number] = slot
            self.next_to_schedule = number + 1

    def _ends(self, number: int, count: int) -> bool:
        """Whether a page of ``count`` items is the last one.

        Only the first page can be in doubt: short of the size asked, it may be all there is,
        or all the server serves a page. It is the end if the server has served this size in
        full before (on this path), or if it holds all ``expected`` items; otherwise the next
        page, asked at the size served, tells.
        """
        if count >= self.size:
            return False
        facts = self.p.facts
        if count == 0 or number != self.first or facts.full_at >= self.size or facts.ignores_page:
            return True
        if self.p._first is not None and self.p._first > (facts.first_page or 1):
            return True  # a resumed listing: its pages were numbered at the size it began with
        return self.p.expected is not None and count >= self.p.expected

    # --- scheduling ------------------------------------------------------------------------

    def _note_ends(self) -> None:
        """A short page ends the listing as soon as it arrives, not when it is consumed: no
        page past it is asked for, and those in flight past it are cancelled."""
        for slot in list(self.slots.values()):
            result = slot.result
            if slot.number != self.first and not self.yielded_pages:
                continue  # page sizes are in doubt until the first page is in
            if (
                result is not None
                and len(result.items) < self.size
                and (self.end is None or slot.number < self.end)
                and self._ends(slot.number, len(result.items))
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
        while sum(not s.done for s in self.slots.values()) < window and len(self.slots) < 2 * window:
            n = self.next_to_schedule
            for limit in (self.end, self.cut, self.last_page, self.planned_end):
                if limit is not None and n > limit:
                    return
            slot: _Slot[T] = _Slot(n)
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

    async def _run(self, slot: _Slot[T]) -> None:
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
        return all(
            limit is None or n <= limit for limit in (self.end, self.cut, self.last_page, self.planned_end)
        )

    async def _fetch_inline(self) -> _Slot[T]:
        n = self.next_to_schedule
        slot: _Slot[T] = _Slot(n)
        self.slots[n] = slot
        self.next_to_schedule += 1
        self.p.in_flight += 1
        try:
            slot.result = await self.p._fetch(n, self.size, slot.stats)
        except Exception as exc:
            slot.error = exc
        finally:
            self.p.in_flight -= 1
            slot.received = _now()
            slot.done = True
            _merge(self.p.stats, slot.stats)
        return slot

    def _drop(self, slot: _Slot[T]) -> None:
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

    async def _wait(self) -> _Slot[T] | None:
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
            await self._start()
        while True:
            if self.recovered:
                return self.recovered.pop(0)
            if self.finished:
                return None
            self._note_ends()
            if self._inline_next():
                slot: _Slot[T] | None = await self._fetch_inline()
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

    async def _accept(self, slot: _Slot[T]) -> Page[T] | None:
        assert slot.result is not None
        del self.slots[slot.number]
        raw = slot.result.items
        n = slot.number
        facts = self.p.facts
        keys = [self.p._key(i) for i in raw]
        if n == self.first + 1 and self.resized and raw:
            # Page 1 was short, and page 2 (asked at that size) is not empty: the server
            # serves at most that many a page. Remembered for this path.
            facts.cap = self.size if facts.cap is None else min(facts.cap, self.size)
            facts.full_at = max(facts.full_at, self.size)
            facts.note(f"pages hold at most {self.size} items")
        if len(raw) < self.size and raw and not self._ends(n, len(raw)):
            # Short, but maybe only because the server serves fewer than asked: go on at the
            # size served, one page at a time, and let the next page tell.
            self.size, self.resized, self.cautious = len(raw), True, True
            self.p.stats.probe_requests += 1  # the page it takes to find out
            self._plan(1)
        full = len(raw) >= self.size
        if full and not self.resized:
            facts.full_at = max(facts.full_at, self.size)
        self.info[n] = PageInfo.of(
            raw, self.p._key, self.p._created, slot.sent, slot.received, slot.result.date
        )
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
        if self.p.ordered:
            self.next_to_yield += 1
        self.yielded_pages += 1
        before = self.p.stats.duplicates
        items = self._fresh(n, raw, keys)
        if self._check_paging(n, keys, len(raw) - (self.p.stats.duplicates - before)):
            self.end = n  # past the end, answered with the last page: as an empty page would be
            for s in [s for s in self.slots.values() if s.number > n]:
                self._drop(s)
        done = self._complete()
        if done and self.p.verify and self.remaining != 0 and self.newest:
            self.recovered = await self._verify()
        if done:
            self.finished = True
        self.p.stats.pages += 1
        self.p.stats.items += len(items)
        if not items and not self.recovered:
            return None
        if not done and (1 if self.cautious else self.window) > 1:
            self._top_up()  # keep fetching while the consumer works on this page
        return Page(items, n, has_more=not done or bool(self.recovered))

    def _check_paging(self, number: int, keys: list[Hashable], new: int) -> bool:
        """A server that ignores ``page`` answers every page with the first page's items. Seen as:
        the page after the first holds exactly its items; or a later full page holds half of
        them or more; or two full pages in a row bring nothing new. Insertions at the head
        while listing do neither unless a page's worth arrive between two reads. Either ends the
        listing with :class:`PageIgnoredError`: it could never end otherwise.

        Returns True for a server that clamps a page past the end to the last page: a page
        past the second that holds exactly the items of a page next to it, all known already.
        A distinct second page was seen then, so ``page`` is honoured: the list has ended
        (its length a multiple of the page size), as an empty page would say."""
        facts = self.p.facts
        full = len(keys) >= self.size and bool(keys)
        if number == self.first:
            self.first_keys = frozenset(keys)
            if facts.ignores_page and full:
                raise PageIgnoredError(
                    f"the server ignores 'page' on {self._what()} (found earlier): only the first"
                    f" {len(keys)} items can be listed"
                )
            return False
        self.stale = self.stale + 1 if full and not new else 0
        self.cautious = self.stale > 0  # one page at a time until a page brings something new
        if not full:
            return False
        fingerprint = hash(frozenset(keys))
        self.prints[number] = fingerprint
        if number == self.first + 1:
            if self.first_keys == frozenset(keys):
                why = f"page {number} repeats the items of page {self.first}"
            else:
                return False
        elif not new and fingerprint in (self.prints.get(number - 1), self.prints.get(number + 1)):
            self.stale = 0
            self.cautious = False
            return True
        elif 2 * len(self.first_keys.intersection(keys)) >= len(keys):
            why = f"page {number} repeats the items of page {self.first}"
        elif self.stale >= 2:
            why = f"pages {number - 1} and {number} bring nothing new"
        else:
            return False
        facts.ignores_page = True
        facts.note("a later page repeats page 1: 'page' is ignored")
        raise PageIgnoredError(
            f"the server ignores 'page' on {self._what()}: {why}, so the listing cannot go on"
            f" past the {self.p.stats.items} items read"
        )

    def _what(self) -> str:
        return self.p.name or "this listing"

    def _fresh(self, number: int, raw: list[T], keys: list[Hashable]) -> list[T]:
        created, contains, seen = self.p._created, self.seen.contains, self.seen
        stamps = [created(item) for item in raw]
        if self.newest:
            self._check_order(stamps)
        if seen.empty:
            # The first page (often the only one): nothing to be a repeat of.
            items, entries = list(raw), list(zip(keys, stamps, strict=True))
        else:
            items, entries = [], []
            for item, k, c in zip(raw, keys, stamps, strict=True):
                if contains(k, c):
                    self.p.stats.duplicates += 1
                    continue
                items.append(item)
                entries.append((k, c))
        seen.add_page(number, entries)
        if self.remaining is not None:
            items = items[: self.remaining]
            self.remaining -= len(items)
        return items

    def _check_order(self, stamps: list[datetime | None]) -> None:
        """The createdAt watermark and the insertion repair hold only for a newest-first list:
        the first page that shows another order makes the memory exact for this listing. The
        rule is ``newest_first``, which ``aioglif probe`` applies too."""
        prev = self.prev_first if self.p.ordered else None
        if not newest_first(stamps, after=prev):
            self.newest = False
            self.seen.make_exact()
            self.p.stats.exact_ids = True
            return
        first = next((c for c in stamps if c is not None), None)
        if first is not None:
            self.prev_first = first

    def _complete(self) -> bool:
        if self.remaining == 0:
            return True
        if self.end is None:
            return False
        return self.yielded_pages >= self.end - self.first + 1 and not any(
            s.number <= self.end for s in self.slots.values()
        )

    # --- consistency under insertion -------------------------------------------------------

    async def _fetch_counted(self, number: int) -> Fetched[T]:
        sink = Stats()
        try:
            return await self.p._fetch(number, self.size, sink)
        finally:
            _merge(self.p.stats, sink)
            self.p.stats.verify_requests += sink.requests - sink.retries

    async def _verify(self) -> list[Page[T]]:
        """Re-read the boundaries that insertions during the listing may have shifted."""
        first = self.first
        pages = sorted(self.info)
        overlapped = [
            Boundary(a, b)
            for a, b in itertools.pairwise(pages)
            if b == a + 1 and self.info[a].overlaps(self.info[b])
        ]
        head = self.info.get(first)
        if not overlapped or head is None or head.first_key is None:
            return []  # sequential pages only duplicate, never skip
        inserted: list[datetime | None] = []
        for n in range(first, first + _MAX_HEAD_PAGES):
            fetched = await self._fetch_counted(n)
            keys = [self.p._key(i) for i in fetched.items]
            if head.first_key in keys:
                inserted += [self.p._created(i) for i in fetched.items[: keys.index(head.first_key)]]
                break
            inserted += [self.p._created(i) for i in fetched.items]
            if len(fetched.items) < self.size:
                inserted.append(None)  # the old head is gone (deleted?): suspect everything
                break
        if not inserted:
            return []
        out: list[Page[T]] = []
        taken: set[Hashable] = set()
        for boundary in suspect_boundaries(overlapped, self.info, inserted):
            found = await self._reread(boundary, taken)
            if found:
                self.p.stats.recovered += len(found)
                self.p.stats.items += len(found)
                out.append(Page(found, boundary.after, has_more=True, recovered=True))
        if out:
            out[-1] = Page(out[-1].items, out[-1].number, has_more=False, recovered=True)
        return out

    async def _reread(self, boundary: Boundary, taken: set[Hashable]) -> list[T]:
        """Read on from page ``after`` until its old first item shows up again."""
        before, after = self.info[boundary.before], self.info[boundary.after]
        found: list[T] = []
        for n in range(boundary.after, boundary.after + _MAX_REREAD_PAGES):
            fetched = await self._fetch_counted(n)
            anchor_seen = False
            for item in fetched.items:
                k, c = self.p._key(item), self.p._created(item)
                if k == after.first_key:
                    anchor_seen = True
                    break
                if k not in taken and in_gap(before, after, k, c) and not covered(self.info, k, c, self.seen):
                    taken.add(k)
                    found.append(item)
            if anchor_seen or len(fetched.items) < self.size:
                break
        return found
