"""How the fake server's listings behave: every way the evidence allows the real API to.

The Glif API documents none of these: the order of a list, whether ``limit`` is served in full,
whether ``page`` is honoured and whether it counts from 0 or 1, whether items vanish while a
listing runs, whether ``completedSpellRunCount`` is sent and current. A :class:`Behaviour` picks
one answer for each, per listing; :data:`PROFILES` names the ones the tests run under.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = ["PROFILES", "Behaviour", "ListRules", "Order"]

Order = Literal["newest", "oldest", "likes", "featured", "relevance"]
Record = dict[str, Any]
# The API's documented default page size and cap.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class ListRules:
    """One listing's rules.

    ``order``: newest-first or oldest-first by ``createdAt``, most likes first, latest
    ``featuredAt`` first, or a per-query relevance order (stable for one query, unrelated to
    time). ``page_cap``: at most this many items a page whatever ``limit`` asks. ``ignore_page``:
    every page is the first. ``first_page``: the number of the first page (0 or 1).
    ``clamp_past_end``: a page past the end answers the last page again (a backend that clamps
    the page number to the last page) instead of an empty page.
    """

    order: Order = "newest"
    page_cap: int | None = None
    ignore_page: bool = False
    first_page: int = 1
    clamp_past_end: bool = False

    def __post_init__(self) -> None:
        if self.order not in ("newest", "oldest", "likes", "featured", "relevance"):
            raise ValueError(f"unknown order {self.order!r}")
        if self.page_cap is not None and not 1 <= self.page_cap <= MAX_LIMIT:
            raise ValueError(f"page_cap must be from 1 to {MAX_LIMIT}, got {self.page_cap!r}")
        if self.first_page not in (0, 1):
            raise ValueError(f"first_page must be 0 or 1, got {self.first_page!r}")

    def served_limit(self, asked: int) -> int:
        return min(asked, MAX_LIMIT, self.page_cap or MAX_LIMIT)

    def index(self, page: int) -> int | None:
        """The 0-based index of the page asked for, or None if the number is out of range."""
        if self.ignore_page:
            return 0
        return page - self.first_page if page >= self.first_page else None


@dataclass
class Behaviour:
    """Rules per listing, the run counts' quality, and churn while listings are served.

    ``featured`` and ``search`` (``?q=``) lists follow ``glifs`` unless set. ``run_count``:
    ``exact``, ``missing`` (not sent) or ``stale`` (as it was when the server started). Churn
    acts before every N-th listing request (0: never): delete a glif with all its runs, delete one
    run, insert a glif, insert a run. ``private_runs``: whether ``/api/runs?glifId=``/``?userId=``
    lists private runs to the token of their owner (``owner``) or only public runs (``hidden``,
    the documented case; the real API's answer for a token is not known).
    """

    glifs: ListRules = field(default_factory=ListRules)
    featured: ListRules | None = None
    search: ListRules | None = None
    runs: ListRules = field(default_factory=ListRules)
    spheres: ListRules = field(default_factory=ListRules)
    run_count: Literal["exact", "missing", "stale"] = "exact"
    delete_glif_every: int = 0
    delete_run_every: int = 0
    insert_glif_every: int = 0
    insert_run_every: int = 0
    seed: int = 0
    private_runs: Literal["hidden", "owner"] = "hidden"

    def __post_init__(self) -> None:
        if self.run_count not in ("exact", "missing", "stale"):
            raise ValueError(f"run_count must be exact, missing or stale, got {self.run_count!r}")
        if self.private_runs not in ("hidden", "owner"):
            raise ValueError(f"private_runs must be hidden or owner, got {self.private_runs!r}")
        for name in ("delete_glif_every", "delete_run_every", "insert_glif_every", "insert_run_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @classmethod
    def named(cls, name: str) -> Behaviour:
        """One of :data:`PROFILES` by name."""
        try:
            return PROFILES[name]()
        except KeyError:
            raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None

    def every_list(self, **changes: Any) -> Behaviour:
        """The same rules changed alike for every listing."""
        return replace(
            self,
            glifs=replace(self.glifs, **changes),
            featured=None if self.featured is None else replace(self.featured, **changes),
            search=None if self.search is None else replace(self.search, **changes),
            runs=replace(self.runs, **changes),
            spheres=replace(self.spheres, **changes),
        )

    def rules(self, path: str, query: dict[str, str] | Any) -> ListRules:
        if path.endswith("/runs"):
            return self.runs
        if path.endswith("/spheres"):
            return self.spheres
        if query.get("q") and self.search is not None:
            return self.search
        if query.get("featured") == "1" and self.featured is not None:
            return self.featured
        return self.glifs

    @property
    def churns(self) -> bool:
        return bool(
            self.delete_glif_every or self.delete_run_every or self.insert_glif_every or self.insert_run_every
        )


def _likes(item: Record) -> int:
    count = item.get("_count")
    return int(count["likes"]) if isinstance(count, dict) else int(item.get("likeCount") or 0)


def _relevance(salt: str) -> Callable[[Record], bytes]:
    def score(item: Record) -> bytes:
        return hashlib.blake2b((salt + item["id"]).encode(), digest_size=8).digest()

    return score


def arrange(items: list[Record], order: Order, salt: str) -> list[Record]:
    """``items`` (newest first, as the data keeps them) in the listing's order.

    Every order is total and depends only on the items themselves (ties broken by id), so a
    page boundary moves only when items are inserted or deleted, as on a real database.
    """
    if order == "newest":
        return items
    if order == "oldest":
        return items[::-1]
    if order == "likes":
        return sorted(items, key=lambda g: (-_likes(g), g["id"]))
    if order == "featured":
        # Latest featuredAt first; never-featured items after them, newest first.
        featured = sorted((g for g in items if g.get("featuredAt")), key=lambda g: (g["featuredAt"], g["id"]))
        return featured[::-1] + [g for g in items if not g.get("featuredAt")]
    return sorted(items, key=_relevance(salt))


def _profiles() -> dict[str, Callable[[], Behaviour]]:
    base = Behaviour()
    return {
        "default": Behaviour,
        "oldest-first": lambda: base.every_list(order="oldest"),
        "by-likes": lambda: base.every_list(order="likes"),
        "by-featured": lambda: base.every_list(order="featured"),
        "shuffled": lambda: base.every_list(order="relevance"),
        "page-cap-20": lambda: base.every_list(page_cap=20),
        "page-cap-7": lambda: base.every_list(page_cap=7),
        "page-zero": lambda: base.every_list(first_page=0),
        "ignores-page": lambda: base.every_list(ignore_page=True),
        "likes-cap-20-zero": lambda: base.every_list(order="likes", page_cap=20, first_page=0),
        "no-run-count": lambda: Behaviour(run_count="missing"),
        "stale-run-count": lambda: Behaviour(run_count="stale"),
        # What the evidence makes likely: featured by featuredAt, search by relevance.
        "likely": lambda: Behaviour(
            featured=ListRules(order="featured"), search=ListRules(order="relevance")
        ),
    }


PROFILES: dict[str, Callable[[], Behaviour]] = _profiles()
# The profiles a listing must stay exact under (all but the one that cannot be listed at all).
EXACT_PROFILES = tuple(n for n in PROFILES if n != "ignores-page")
