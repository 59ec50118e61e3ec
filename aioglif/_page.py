"""The values a listing hands out and counts: pages, fetched bodies, counters."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

import msgspec

from ._stats import Stats

T = TypeVar("T")


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


@dataclass(init=False)
class ListingStats(Stats):
    """A listing's counters: the client's (requests, retries, 429s, bytes) and its own."""

    def __init__(self, **counts: float) -> None:
        # Every counter starts at its class-level default (a dataclass keeps each default on the
        # class) and becomes the instance's own when first counted: a listing a glif (thousands
        # in a crawl) would otherwise set sixteen fields it mostly never changes.
        if counts:
            names = {f.name for f in fields(self)}
            for name, value in counts.items():
                if name not in names:
                    raise TypeError(f"ListingStats has no counter {name!r}")
                setattr(self, name, value)

    pages: int = 0
    items: int = 0
    duplicates: int = 0  # items dropped because this listing had yielded them already
    wasted: int = 0  # requests for pages that turned out to lie past the end
    verify_requests: int = 0  # head reads and boundary re-reads after insertions
    recovered: int = 0  # items found only by re-reading a boundary
    probe_requests: int = 0  # requests that found out how the server pages (page 0, a page size)
    exact_ids: bool = False  # the list was not newest-first: every id was remembered


class Fetched(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A fetched page: its items and the server's ``Date`` header, if sent."""

    items: list[T]
    date: str | None = None


Fetch = Callable[[int, int, Stats], Awaitable[Fetched[T]]]
Spawn = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


# When a page was asked for and answered, compared only with other pages' times: the plain
# monotonic clock (what the asyncio loop's time is) without a lookup of the async backend.
now = time.monotonic


def merge(into: Stats, part: Stats) -> None:
    if not part.requests and not part.errors:
        return  # nothing was sent: every counter is still 0
    # Field by field, not by name through getattr/setattr: a merge per page.
    into.requests += part.requests
    into.retries += part.retries
    into.rate_limited += part.rate_limited
    into.errors += part.errors
    into.redirects += part.redirects
    into.bytes_received += part.bytes_received
    into.limiter_seconds += part.limiter_seconds
    into.network_seconds += part.network_seconds
