"""What the API in front of us does where the documentation is silent, found in a short session.

A few requests (at most ``max_requests``, 30 by default, at the client's rate) tell: the order
of each listing, the page size served for ``limit=100``, whether ``page`` is honoured and where
it starts, the ``Date`` header, the form of ``Retry-After`` (if a 429 came), whether public
reads need the token, and the shape of ``/api/user``. The order and paging rules are the
paginator's own (:func:`classify_order` is pure; page numbering is found the paginator's way).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from ._consistency import newest_first
from ._errors import APIStatusError, GlifError, RateLimitedError
from ._protocol import parse_http_date
from .client import GlifClient

__all__ = ["ListingOrder", "ProbeReport", "classify_order", "probe"]

_ANY = msgspec.json.Decoder()


def _likes(item: Mapping[str, Any]) -> int | None:
    count = item.get("_count")
    if isinstance(count, dict) and isinstance(count.get("likes"), int):
        return int(count["likes"])
    value = item.get("likeCount")
    return int(value) if isinstance(value, int) else None


def _monotone(values: Sequence[Any], *, descending: bool) -> bool:
    pairs = list(itertools.pairwise(values))
    return all(a >= b for a, b in pairs) if descending else all(a <= b for a, b in pairs)


def classify_order(items: Sequence[Mapping[str, Any]]) -> str:
    """The order one page shows: ``newest-first``, ``oldest-first`` (by ``createdAt``), ``by
    likes``, ``by featuredAt``, or ``other`` (relevance, or none we know); ``unknown`` with
    fewer than 3 items. Several may hold at once on a small page: all are named."""
    if len(items) < 3:
        return "unknown (fewer than 3 items)"
    found = []
    created = [i.get("createdAt") for i in items]
    if all(isinstance(c, str) for c in created) and len(set(created)) > 1:
        if newest_first(created):  # the paginator's own rule
            found.append("newest-first")
        elif _monotone(created, descending=False):
            found.append("oldest-first")
    featured = [i.get("featuredAt") for i in items]
    dated = [f for f in featured if isinstance(f, str)]
    # Featured ones first (latest first), the never-featured after them.
    if len(dated) >= 2 and featured[: len(dated)] == dated and _monotone(dated, descending=True):
        found.append("by featuredAt")
    likes = [_likes(i) for i in items]
    if all(v is not None for v in likes) and len(set(likes)) > 1 and _monotone(likes, descending=True):
        found.append("by likes")
    return " / ".join(found) or "other (relevance, or unknown)"


@dataclass
class ListingOrder:
    listing: str
    query: dict[str, str]
    order: str
    items: int


@dataclass
class ProbeReport:
    api_url: str
    requests: int = 0
    first_page: int | None = None  # the number of the first page
    page_honoured: bool | None = None
    page_size_served: int | None = None  # for limit=100, when the list is longer
    orders: list[ListingOrder] = field(default_factory=list)
    date_header: str | None = None
    clock_skew_seconds: float | None = None  # server Date minus our clock
    retry_after: str = "not seen (no 429 answered)"
    public_reads_need_token: bool | None = None
    user_shape: str | None = None
    run_count: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[tuple[str, str]]:
        """The report as (question, answer) rows, for a table."""

        def show(value: object) -> str:
            return "unknown" if value is None else str(value)

        page = (
            "unknown"
            if self.page_honoured is None
            else ("honoured" if self.page_honoured else "IGNORED: only the first page can be read")
        )
        rows = [
            ("API", self.api_url),
            ("first page number", show(self.first_page)),
            ("page", page),
            ("page size served for limit=100", show(self.page_size_served)),
        ]
        rows += [(f"order: {o.listing}", f"{o.order} ({o.items} items)") for o in self.orders]
        rows += [
            ("Date header", f"{show(self.date_header)} (skew {show(self.clock_skew_seconds)} s)"),
            ("Retry-After", self.retry_after),
            ("public reads need the token", show(self.public_reads_need_token)),
            ("/api/user answers", show(self.user_shape)),
            ("completedSpellRunCount", show(self.run_count)),
            ("requests used", str(self.requests)),
        ]
        rows += [("note", n) for n in self.notes]
        return rows


class _Budget(Exception):
    """The request budget is spent: the report says what was found so far."""


class _Session:
    def __init__(self, client: GlifClient, report: ProbeReport, max_requests: int) -> None:
        self.client, self.report, self.max = client, report, max_requests

    async def get(self, path: str, params: Mapping[str, str], *, client: GlifClient | None = None) -> Any:
        """The decoded body, or the APIStatusError; counts against the budget."""
        if self.report.requests >= self.max:
            raise _Budget
        self.report.requests += 1
        try:
            body, headers = await (client or self.client).get_raw(path, params)
        except RateLimitedError as exc:
            self._retry_after(exc)
            return exc
        except APIStatusError as exc:
            return exc
        date = headers.get("Date")
        if date and self.report.date_header is None:
            self.report.date_header = date
            when = parse_http_date(date)
            if when is not None:
                self.report.clock_skew_seconds = round(when - time.time(), 1)
        try:
            return _ANY.decode(body)
        except msgspec.DecodeError:
            return APIStatusError("not JSON", status=200, body=body)

    def _retry_after(self, exc: RateLimitedError) -> None:
        raw = None
        for key, value in getattr(exc, "headers", {}).items():
            if key.lower() == "retry-after":
                raw = value
        if raw is None:
            self.report.retry_after = "absent on a 429" if exc.retry_after is None else "present on a 429"
        else:
            self.report.retry_after = "seconds" if raw.strip().isdigit() else "an HTTP-date"


def _ids(page: Any) -> list[Any]:
    return [i.get("id") for i in page if isinstance(i, dict)] if isinstance(page, list) else []


async def probe(
    client: GlifClient, *, max_requests: int = 30, anonymous: GlifClient | None = None
) -> ProbeReport:
    """Probe the API behind ``client`` (open) in at most ``max_requests`` requests. With
    ``anonymous`` (an open client without a token) it also checks whether reads need one."""
    if max_requests < 10:
        raise ValueError("max_requests must be at least 10: fewer cannot answer the questions")
    report = ProbeReport(api_url=client.settings.api_url)
    s = _Session(client, report, max_requests)
    try:
        await _paging(s)
        await _orders(s)
        await _others(s, anonymous)
    except _Budget:
        report.notes.append(f"stopped at the budget of {max_requests} requests")
    except GlifError as exc:
        report.notes.append(f"stopped: {type(exc).__name__}: {exc}")
    limited = client.stats.rate_limited
    if limited and report.retry_after.startswith("not seen"):
        report.retry_after = f"{limited} answers 429, retried (see the log for their Retry-After)"
    return report


async def _paging(s: _Session) -> None:
    r = s.report
    zero = await s.get("/glifs", {"page": "0", "limit": "100"})
    one = await s.get("/glifs", {"page": "1", "limit": "100"})
    if not isinstance(one, list):
        r.notes.append(f"/glifs?page=1 did not answer a list: {one}")
        return
    s.glifs = one  # type: ignore[attr-defined]
    if not isinstance(zero, list) or not zero:
        r.first_page, first = 1, one
    elif _ids(zero) == _ids(one):
        r.first_page, first = 1, one  # page 0 answers as page 1 (or page is ignored)
        r.notes.append("page 0 answers as page 1")
    else:
        r.first_page, first = 0, zero
    s.glifs = first  # type: ignore[attr-defined]
    after = await s.get("/glifs", {"page": str(r.first_page + 1), "limit": "100"})
    if r.first_page == 0:
        after = one  # already read: page 1 follows page 0
    if not isinstance(after, list):
        return
    if first and _ids(after) == _ids(first):
        r.page_honoured = False
        r.page_size_served = len(first)
        return
    r.page_honoured = bool(after) or len(first) < 100 or None  # an empty page 2 after 100 is fine
    if len(first) >= 100:
        r.page_size_served = 100
    elif after:
        r.page_size_served = len(first)  # short, and more follows: all it serves a page
    else:
        r.notes.append(f"the list holds {len(first)} items: the page size served is at least that")


async def _orders(s: _Session) -> None:
    r = s.report
    glifs: list[Any] = getattr(s, "glifs", [])
    first = str(r.first_page if r.first_page is not None else 1)
    if glifs:
        r.orders.append(ListingOrder("glifs", {}, classify_order(glifs), len(glifs)))
    checks: list[tuple[str, str, dict[str, str]]] = [("featured glifs", "/glifs", {"featured": "1"})]
    words = [w for g in glifs if isinstance(g, dict) for w in str(g.get("name") or "").split() if len(w) > 2]
    if words:
        checks.append(("search", "/glifs", {"q": max(set(words), key=words.count)}))
    counted = [g for g in glifs if isinstance(g, dict) and isinstance(g.get("completedSpellRunCount"), int)]
    r.run_count = "present" if counted and len(counted) == len(glifs) else ("missing" if glifs else None)
    busy = max(counted, key=lambda g: g["completedSpellRunCount"], default=None)
    if busy is None and glifs:
        busy = glifs[0]
    if busy is not None:
        checks.append(("runs of a glif", "/runs", {"glifId": str(busy["id"])}))
    checks.append(("spheres", "/spheres", {}))
    for name, path, query in checks:
        page = await s.get(path, {**query, "page": first, "limit": "100"})
        if isinstance(page, list):
            r.orders.append(ListingOrder(name, query, classify_order(page), len(page)))
            if (
                name == "runs of a glif"
                and busy is not None
                and isinstance(busy.get("completedSpellRunCount"), int)
            ):
                count = busy["completedSpellRunCount"]
                if len(page) < (r.page_size_served or 100) and count != len(page):
                    r.run_count = f"present, but {count} for a glif whose runs list {len(page)}"
        else:
            r.notes.append(f"{name}: {page}")


async def _others(s: _Session, anonymous: GlifClient | None) -> None:
    r = s.report
    glifs: list[Any] = getattr(s, "glifs", [])
    user = next(
        (g.get("user") for g in glifs if isinstance(g, dict) and isinstance(g.get("user"), dict)), None
    )
    if user and user.get("username"):
        found = await s.get("/user", {"username": str(user["username"])})
        if isinstance(found, dict):
            r.user_shape = "an object" + (" (id, username)" if "id" in found and "username" in found else "")
        elif isinstance(found, list):
            r.user_shape = f"an array of {len(found)}"
        else:
            r.user_shape = f"an error: {found}"
    if anonymous is not None:
        answer = await s.get("/glifs", {"limit": "1"}, client=anonymous)
        if isinstance(answer, APIStatusError):
            r.public_reads_need_token = answer.status in (401, 403)
            if not r.public_reads_need_token:
                r.notes.append(f"a read without the token: {answer}")
        else:
            r.public_reads_need_token = False
