"""Listing the Glif API's pages: ``?page=N&limit=M`` over bare arrays, the end a short page.

``async for item in paginator`` streams items; ``paginator.pages()`` streams :class:`Page` objects;
``await paginator.first_page()`` and ``await paginator.collect()`` cover the small cases.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._protocol import MAX_LIMIT, check_limit

__all__ = ["AsyncPaginator", "Page", "PageStats"]

T = TypeVar("T")

FetchPage = Callable[[int, int], Awaitable[list[T]]]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing. ``has_more`` is False once a page came back short."""

    items: list[T]
    number: int
    has_more: bool


@dataclass
class PageStats:
    requests: int = 0
    pages: int = 0
    items: int = 0
    duplicates: int = 0


class AsyncPaginator(Generic[T]):
    """A listing, fetched page by page when iterated. Iterating twice lists twice.

    Items seen earlier in the same listing are not yielded again: lists are newest-first, so an
    insertion during a listing pushes items already seen onto the next page.
    """

    def __init__(
        self,
        fetch: FetchPage[T],
        *,
        key: Callable[[T], Hashable],
        page_size: int = MAX_LIMIT,
        max_items: int | None = None,
        first_page: int = 1,
    ) -> None:
        check_limit(page_size)
        if max_items is not None and (isinstance(max_items, bool) or max_items < 1):
            raise ValueError(f"max_items must be a positive int or None, got {max_items!r}")
        self._fetch = fetch
        self._key = key
        self.page_size = page_size
        self.max_items = max_items
        self._first = first_page
        self.stats = PageStats()

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        seen: set[Hashable] = set()
        remaining = self.max_items
        number = self._first
        # Bounded: each turn either ends the listing or brings page_size new ids, and a page of
        # nothing but repeats ends it too (a server that ignores ?page= would otherwise loop).
        while remaining is None or remaining > 0:
            self.stats.requests += 1
            raw = await self._fetch(number, self.page_size)
            has_more = len(raw) >= self.page_size
            fresh = []
            for item in raw:
                k = self._key(item)
                if k in seen:
                    self.stats.duplicates += 1
                    continue
                seen.add(k)
                fresh.append(item)
            if raw and not fresh:
                return
            if remaining is not None:
                fresh = fresh[:remaining]
                remaining -= len(fresh)
                has_more = has_more and remaining > 0
            self.stats.pages += 1
            self.stats.items += len(fresh)
            yield Page(fresh, number, has_more)
            if not has_more:
                return
            number += 1

    async def __aiter__(self) -> AsyncGenerator[T, None]:
        async with aclosing(self.pages()) as pages:
            async for page in pages:
                for item in page.items:
                    yield item

    async def first_page(self) -> Page[T]:
        """The first page alone: one request."""
        raw = await self._fetch(self._first, self.page_size)
        self.stats.requests += 1
        items = raw if self.max_items is None else raw[: self.max_items]
        return Page(items, self._first, len(raw) >= self.page_size)

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
