"""How the server pages, found out while listing: the first page's number (0 or 1), whether a
short first page is the end or the most the server serves, whether ``page`` is honoured at all,
and whether the list is newest-first. Each check is cheap on the common path: a listing that
behaves as expected pays a comparison or two per page."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ._consistency import newest_first
from ._errors import APIStatusError, PageIgnoredError, RateLimitedError, ResponseDecodeError, TransportError
from ._page import Fetched
from ._page import merge as _merge
from ._page import now as _now
from ._protocol import empty_answer
from ._stats import Stats

if TYPE_CHECKING:
    from ._listing import Listing
    from .pagination import AsyncPaginator

T = TypeVar("T")


async def start(lst: Listing[T]) -> None:
    """Find the first page's number, once per path and client: ask for page 0. Refused or
    empty: pages count from 1. The same items as page 1: pages count from 1 (or ``page``
    is ignored, which page 2 will show). Other items: pages count from 0."""
    lst.started = True
    p, facts = lst.p, lst.p.facts
    if p._first is not None:
        return
    if facts.first_page is not None:
        lst._begin(facts.first_page)  # found out already: no lock to take
        return
    async with p._facts_lock:
        if facts.first_page is not None:
            lst._begin(facts.first_page)
            return
        zero = await probe(lst, 0)
        if zero is None or not zero[1].items:
            facts.first_page = 1
            facts.note("page 0 refused or empty: pages count from 1")
            lst._begin(1)
            return
        one = await probe(lst, 1)
        assert one is not None  # page 1 is no probe: its errors are raised
        same = [p._key(i) for i in one[1].items] == [p._key(i) for i in zero[1].items]
        if not same and len(zero[1].items) < lst.size:
            # Page 0 is first, and short: page 1 was asked at a size the server may not
            # serve, so it is asked again once page 0 has set the size.
            facts.first_page = 0
            facts.note("page 0 is the first page")
            lst._begin(0, [(0, zero)])
        elif same:
            facts.first_page = 1
            facts.note("page 0 answers as page 1: pages count from 1")
            lst._begin(1, [(1, one)])
            lst.cautious = True  # or every page is page 1: page 2 alone will tell
        else:
            facts.first_page = 0
            facts.note("page 0 is the first page")
            lst._begin(0, [(0, zero), (1, one)])


def refuses_page_zero(exc: APIStatusError | ResponseDecodeError) -> bool:
    """Whether an answer to page 0 says there is no such page: any error status (a 429 or a
    failure asked again as a read included), or a 200 saying so in its body (``{"error": ...}``,
    ``null``, ``{}``: the style the Simple API documents). Page 0 is our question, not the
    caller's: its answer must not fail a listing that page 1 would serve. A page that does not
    decode otherwise is still an error (it may be a page 0 holding items)."""
    return isinstance(exc, APIStatusError) or empty_answer(exc.body) is not None


async def probe(lst: Listing[T], number: int) -> tuple[tuple[float, float], Fetched[T]] | None:
    sink = Stats()
    sent = _now()
    try:
        if number == 0 and lst.p._probe_fetch is not None:
            try:
                fetched = await lst.p._probe_fetch(number, lst.size, sink)
            except (RateLimitedError, TransportError):
                # No answer to the question: taken for "from 1", a server counting from 0
                # would lose its page 0 unseen. Asked again as a read (the 429 pause and
                # the retries apply); what that answers decides.
                fetched = await lst.p._fetch(number, lst.size, sink)
        else:
            fetched = await lst.p._fetch(number, lst.size, sink)
    except (APIStatusError, ResponseDecodeError) as exc:
        if number != 0 or not refuses_page_zero(exc):
            raise
        return None  # pages count from 1
    finally:
        _merge(lst.p.stats, sink)
        if number == 0:
            lst.p.stats.probe_requests += sink.requests
    return (sent, _now()), fetched


def ends(lst: Listing[T], number: int, count: int) -> bool:
    """Whether a page of ``count`` items is the last one.

    Only the first page can be in doubt: short of the size asked, it may be all there is,
    or all the server serves a page. It is the end if the server has served this size in
    full before (on this path), or if it holds all ``expected`` items; otherwise the next
    page, asked at the size served, tells.
    """
    if count >= lst.size:
        return False
    return number != lst.first or first_ends(lst.p, lst.size, count)


def first_ends(p: AsyncPaginator[T], size: int, count: int) -> bool:
    """Whether a first page of ``count`` items, fewer than ``size``, is the last one."""
    facts = p.facts
    if count == 0 or facts.full_at >= size or facts.ignores_page:
        return True
    if p._first is not None and p._first > (facts.first_page or 1):
        return True  # a resumed listing: its pages were numbered at the size it began with
    return p.expected is not None and count >= p.expected


def check_paging(lst: Listing[T], number: int, keys: list[Hashable], new: int) -> bool:
    """A server that ignores ``page`` answers every page with the first page's items. Seen as:
    the page after the first holds exactly its items; or a later full page holds half of
    them or more; or two full pages in a row bring nothing new. Insertions at the head
    while listing do neither unless a page's worth arrive between two reads. Either ends the
    listing with :class:`PageIgnoredError`: it could never end otherwise.

    Returns True for a server that clamps a page past the end to the last page: a page
    past the second that holds exactly the items of a page next to it, all known already.
    A distinct second page was seen then, so ``page`` is honoured: the list has ended
    (its length a multiple of the page size), as an empty page would say."""
    facts = lst.p.facts
    full = len(keys) >= lst.size and bool(keys)
    if number == lst.first:
        lst.first_keys = frozenset(keys)
        if facts.ignores_page and full:
            raise PageIgnoredError(
                f"the server ignores 'page' on {what(lst)} (found earlier): only the first"
                f" {len(keys)} items can be listed"
            )
        return False
    lst.stale = lst.stale + 1 if full and not new else 0
    lst.cautious = lst.stale > 0  # one page at a time until a page brings something new
    if not full:
        return False
    fingerprint = hash(frozenset(keys))
    lst.prints[number] = fingerprint
    if number == lst.first + 1:
        if lst.first_keys == frozenset(keys):
            why = f"page {number} repeats the items of page {lst.first}"
        else:
            return False
    elif not new and fingerprint in (lst.prints.get(number - 1), lst.prints.get(number + 1)):
        lst.stale = 0
        lst.cautious = False
        return True
    elif 2 * len(lst.first_keys.intersection(keys)) >= len(keys):
        why = f"page {number} repeats the items of page {lst.first}"
    elif lst.stale >= 2:
        why = f"pages {number - 1} and {number} bring nothing new"
    else:
        return False
    facts.ignores_page = True
    facts.note("a later page repeats page 1: 'page' is ignored")
    raise PageIgnoredError(
        f"the server ignores 'page' on {what(lst)}: {why}, so the listing cannot go on"
        f" past the {lst.p.stats.items} items read"
    )


def what(lst: Listing[T]) -> str:
    return lst.p.name or "this listing"


def check_order(lst: Listing[T], stamps: list[datetime | None]) -> None:
    """The createdAt watermark and the insertion repair hold only for a newest-first list:
    the first page that shows another order makes the memory exact for this listing. The
    rule is ``newest_first``, which ``aioglif probe`` applies too."""
    prev = lst.prev_first if lst.p.ordered else None
    if not newest_first(stamps, after=prev):
        lst.newest = False
        lst.seen.make_exact()
        lst.p.stats.exact_ids = True
        return
    first = next((c for c in stamps if c is not None), None)
    if first is not None:
        lst.prev_first = first
