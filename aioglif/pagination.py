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
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Hashable
from contextlib import aclosing
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Generic, TypeVar

import anyio

from . import _errors as e
from ._consistency import Boundary, PageInfo, Seen, covered, in_gap, suspect_boundaries
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


@dataclass(frozen=True)
class Fetched(Generic[T]):
    """A fetched page: its items and the server's ``Date`` (seconds since the epoch), if sent."""

    items: list[T]
    served_at: float | None = None


Fetch = Callable[[int, int, Stats], Awaitable[Fetched[T]]]
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


def _merge(into: Stats, part: Stats) -> None:
    for f in fields(Stats):
        setattr(into, f.name, getattr(into, f.name) + getattr(part, f.name))


class _Slot(Generic[T]):
    """One page being fetched, or fetched and not yet yielded."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.scope = anyio.CancelScope()
        self.stats = Stats()
        self.result: Fetched[T] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.sent = anyio.current_time()
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
        first_page: int = 1,
    ) -> None:
        check_limit(page_size)
        if max_items is not None and (isinstance(max_items, bool) or max_items < 1):
            raise ValueError(f"max_items must be a positive int or None, got {max_items!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        if expected is not None and (isinstance(expected, bool) or expected < 0):
            raise ValueError(f"expected must be a non-negative int or None, got {expected!r}")
        self._fetch = fetch
        self._spawn = spawn
        self._key = key
        self._created = created
        self.page_size = page_size
        self.max_items = max_items
        self.concurrency = concurrency
        self.expected = expected
        self.ordered = ordered
        self.verify = verify
        self._first = first_page
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
        """The first page alone: one request."""
        sink = Stats()
        try:
            fetched = await self._fetch(self._first, self.page_size, sink)
        finally:
            _merge(self.stats, sink)
        items = fetched.items if self.max_items is None else fetched.items[: self.max_items]
        self.stats.pages += 1
        self.stats.items += len(items)
        return Page(items, self._first, len(fetched.items) >= self.page_size)

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
        self.size = pager.page_size
        self.slots: dict[int, _Slot[T]] = {}
        self.changed = anyio.Event()
        self.next_to_schedule = pager._first
        self.next_to_yield = pager._first  # ordered mode
        self.yielded_pages = 0
        self.end: int | None = None  # the first page that came back short
        self.cut: int | None = None  # the first page an error makes unreachable (ordered mode)
        # The first page always goes alone: it is the snapshot the head check compares against.
        self.window = 1
        self.planned_end: int | None = None  # with expected=: no page past it until it came back full
        if pager.expected is not None:
            self.planned_end = pager._first + max(1, math.ceil(pager.expected / self.size)) - 1
        self.last_page: int | None = None  # with max_items=: no page past it is needed
        if pager.max_items is not None:
            self.last_page = pager._first + math.ceil(pager.max_items / self.size) - 1
        self.remaining = pager.max_items
        self.seen = Seen(first=pager._first, keep=pager.concurrency + 2)
        self.info: dict[int, PageInfo] = {}
        self.recovered: list[Page[T]] = []
        self.finished = False
        self.live = 0  # fetch tasks of this listing still running

    # --- scheduling ------------------------------------------------------------------------

    def _note_ends(self) -> None:
        """A short page ends the listing as soon as it arrives, not when it is consumed: no
        page past it is asked for, and those in flight past it are cancelled."""
        for slot in list(self.slots.values()):
            result = slot.result
            if (
                result is not None
                and len(result.items) < self.size
                and (self.end is None or slot.number < self.end)
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
        while (
            sum(not s.done for s in self.slots.values()) < self.window and len(self.slots) < 2 * self.window
        ):
            n = self.next_to_schedule
            for limit in (self.end, self.cut, self.last_page, self.planned_end):
                if limit is not None and n > limit:
                    return
            slot: _Slot[T] = _Slot(n)
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
        try:
            with slot.scope:
                slot.result = await self.p._fetch(slot.number, self.size, slot.stats)
        except Exception as exc:  # kept for the consumer: never let it into the client's task group
            slot.error = exc
        finally:
            self.p.in_flight -= 1
            self.live -= 1
            slot.received = anyio.current_time()
            slot.done = True
            if slot.result is None and slot.error is None and not slot.scope.cancel_called:
                slot.error = e.ClientClosedError("the client was closed while the listing ran")
            _merge(self.p.stats, slot.stats)
            self.changed.set()

    def _drop(self, slot: _Slot[T]) -> None:
        """Forget a page past the end; its request, if it was sent, was wasted."""
        slot.scope.cancel()
        del self.slots[slot.number]
        if slot.stats.requests or not slot.done:
            # A cancelled page may or may not have been sent yet: count it when we know it was.
            self.p.stats.wasted += 1 if slot.stats.requests else 0

    def close(self) -> None:
        for slot in self.slots.values():
            slot.scope.cancel()
        self.slots.clear()

    async def aclose(self) -> None:
        """Cancel every fetch of this listing and wait until they are gone."""
        self.close()
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
        while True:
            if self.recovered:
                return self.recovered.pop(0)
            if self.finished:
                return None
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
        full = len(raw) >= self.size
        n = slot.number
        self.info[n] = PageInfo.of(
            raw, self.p._key, self.p._created, slot.sent, slot.received, slot.result.served_at
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
        items = self._fresh(n, raw)
        done = self._complete()
        if done and self.p.verify and self.remaining != 0:
            self.recovered = await self._verify()
        if done:
            self.finished = True
        self.p.stats.pages += 1
        self.p.stats.items += len(items)
        if not items and not self.recovered:
            return None
        if not done:
            self._top_up()  # keep fetching while the consumer works on this page
        return Page(items, n, has_more=not done or bool(self.recovered))

    def _fresh(self, number: int, raw: list[T]) -> list[T]:
        key, created, contains = self.p._key, self.p._created, self.seen.contains
        items, entries = [], []
        for item in raw:
            k, c = key(item), created(item)
            if contains(k, c):
                self.p.stats.duplicates += 1
                continue
            items.append(item)
            entries.append((k, c))
        self.seen.add_page(number, entries)
        if self.remaining is not None:
            items = items[: self.remaining]
            self.remaining -= len(items)
        return items

    def _complete(self) -> bool:
        if self.remaining == 0:
            return True
        if self.end is None:
            return False
        return self.yielded_pages >= self.end - self.p._first + 1 and not any(
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
        first = self.p._first
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
