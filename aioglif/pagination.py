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

from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from datetime import datetime
from typing import Generic, TypeVar

import anyio

from ._consistency import ListingFacts, newest_first
from ._errors import APIStatusError, ResponseDecodeError
from ._listing import Listing
from ._page import Fetch, Fetched, ListingStats, Page, Spawn
from ._page import merge as _merge
from ._page import now as _now
from ._paging import first_ends, refuses_page_zero
from ._protocol import MAX_LIMIT, check_limit
from ._stats import Stats

__all__ = ["AsyncPaginator", "Fetched", "ListingStats", "Page"]

T = TypeVar("T")


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
        name: str | Callable[[], str] | None = None,
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
        # What the listing is, for messages: e.g. "runs (glifId=cl123)"; made when first asked
        # for (most listings never need it, and a crawl makes thousands).
        self._name = name
        self.facts = facts if facts is not None else ListingFacts()
        self._facts_lock = facts_lock if facts_lock is not None else anyio.Lock()
        self.stats = ListingStats()
        self.in_flight = 0  # page fetches running now, across this paginator's iterations

    @property
    def name(self) -> str | None:
        if callable(self._name):
            self._name = self._name()
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._name = value

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        if self.expected == 0:
            return  # the caller knows the list is empty: not even one request
        listing, number, items = await self._first_of_many()
        if listing is None:
            if items:
                yield Page(items, number, has_more=False)
            return
        try:
            while (page := await listing.next_page()) is not None:
                yield page
        finally:
            await listing.aclose()

    async def __aiter__(self) -> AsyncGenerator[T, None]:
        # The listing driven here, not through ``pages()``: one generator per listing, not two.
        if self.expected == 0:
            return
        listing, _, items = await self._first_of_many()
        if listing is None:
            for item in items:
                yield item
            return
        try:
            while (page := await listing.next_page()) is not None:
                for item in page.items:
                    yield item
        finally:
            await listing.aclose()

    async def _first_of_many(self) -> tuple[Listing[T] | None, int, list[T]]:
        """The first page, fetched in the caller's task. Most listings (a glif's runs) are that
        one short page: they end here, with its items and no listing state at all. Otherwise
        the listing that goes on from it (or, while the first page's number is not known yet,
        from the start: it asks page 0 first)."""
        number = self._first if self._first is not None else self.facts.first_page
        if number is None:
            return Listing(self), 0, []
        size = min(self.page_size, self.facts.cap or self.page_size)
        sent = _now()
        self.in_flight += 1
        try:
            fetched = await self._fetch(number, size, self.stats)
        finally:
            self.in_flight -= 1
        received = _now()
        raw = fetched.items
        count = len(raw)
        if count < size and first_ends(self, size, count):
            # What a listing of one page does, without the state for more: no repeats to drop
            # (nothing was seen before it), nothing to repair, only its order to note.
            if count > 1 and not newest_first(map(self._created, raw)):
                self.stats.exact_ids = True
            items = raw if self.max_items is None else raw[: self.max_items]
            self.stats.pages += 1
            self.stats.items += len(items)
            return None, number, items
        listing = Listing(self, size)
        listing.adopt(number, sent, received, fetched)
        return listing, number, []

    async def first_page(self) -> Page[T]:
        """The first page alone: one request (two while the client does not know yet whether
        pages count from 0: page 0 is asked first, and page 1 if it is refused or empty)."""
        number = self._first if self._first is not None else self.facts.first_page
        size = min(self.page_size, self.facts.cap or self.page_size)
        fetched: Fetched[T] | None = None
        if number is None:
            try:
                fetched = await self._fetch_one(0, size)
            except (APIStatusError, ResponseDecodeError) as exc:
                if not refuses_page_zero(exc):
                    raise
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
