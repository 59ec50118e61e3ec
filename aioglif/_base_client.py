"""What every GlifClient is before its endpoints: settings, the sender, and a lifetime (opened by
``async with`` or on first use, closed once, shared with its :meth:`with_options` views), plus
the generic ways to call the API (``raw``, ``get_raw``, ``paginate``). Its own module so that
``client.py`` reads as the API's endpoints, one thin method each, as openai-python keeps
``_base_client.py`` apart from its resources."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as _dt
import enum
import operator
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar

import aiohttp
import anyio

from . import _errors as e
from ._config import DEFAULT_LARGE_BODY, DEFAULT_MAX_BODY, Settings, Timeouts
from ._consistency import ListingFacts
from ._listings import Listing
from ._rate import AdaptiveRate
from ._raw import CAPTURE, RawResponse
from ._retry import RetryPolicy, Safety
from ._sender import Sender
from ._stats import Stats
from ._wire import AiohttpWire, Response, Wire
from .pagination import AsyncPaginator, Fetched

__all__ = ["BaseClient"]

T = TypeVar("T")
P = ParamSpec("P")
_C = TypeVar("_C", bound="BaseClient")


class _State(enum.Enum):
    UNOPENED = 1
    OPEN = 2
    CLOSED = 3


class _Life:
    """Whether a client is open, shared by the client and its :meth:`GlifClient.with_options`
    views: one session, one lifetime."""

    def __init__(self) -> None:
        self.state = _State.UNOPENED
        self.stack = AsyncExitStack()
        # Opened by ``async with``: listings fetch their pages in this task group.
        self.tasks: anyio.abc.TaskGroup | None = None
        # Opened on first use instead: no task group can outlive the call that opened the
        # client (its cancel scope belongs to that task), so listings' page tasks are kept
        # here, and cancelled and awaited by aclose().
        self.loose: set[asyncio.Task[None]] = set()
        self.opening: anyio.Event | None = None


class BaseClient:
    """The lifetime and the generic calls of :class:`~aioglif.GlifClient` (its endpoints are
    there)."""

    def __init__(
        self,
        token: str | None = None,
        *,
        api_url: str | None = None,
        simple_api_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        rate: float | Literal["auto"] | None = 10.0,
        max_in_flight: int = 16,
        page_concurrency: int = 8,
        max_body: int = DEFAULT_MAX_BODY,
        large_body: int = DEFAULT_LARGE_BODY,
        session: aiohttp.ClientSession | None = None,
        first_page: int | None = None,
        wire: Wire | None = None,
        anonymous: bool = False,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        adaptive = None
        if rate == "auto":
            # No known limit: start at 10/s and find the limit from the 429s.
            adaptive, rate = AdaptiveRate(), None
        elif isinstance(rate, str):
            raise ValueError(f"rate must be a number, 'auto' or None, got {rate!r}")
        self.settings = Settings.from_args(
            token,
            api_url=api_url,
            simple_api_url=simple_api_url,
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
            rate=rate,
            max_in_flight=max_in_flight,
            max_body=max_body,
            large_body=large_body,
            default_headers=default_headers or {},
        )
        if anonymous:
            # No token at all, not even $GLIF_API_TOKEN: what the API shows to anyone.
            if token is not None:
                raise ValueError("an anonymous client takes no token")
            self.settings = dataclasses.replace(self.settings, token=None)
        if isinstance(page_concurrency, bool) or page_concurrency < 1:
            raise ValueError(f"page_concurrency must be a positive int, got {page_concurrency!r}")
        self.page_concurrency = page_concurrency
        if first_page not in (None, 0, 1) or isinstance(first_page, bool):
            raise ValueError(f"first_page must be 0, 1 or None (find out), got {first_page!r}")
        # The number of the API's first page, when known (``aioglif probe`` tells); None: the
        # first listing of each path asks for page 0 once to find out.
        self.first_page = first_page
        t = self.settings.timeouts
        if wire is None:
            wire = AiohttpWire(
                connect_timeout=t.connect,
                read_timeout=t.read,
                pool=max_in_flight,
                user_agent=self.settings.user_agent,
                session=session,
                large_body=self.settings.large_body,
            )
        elif session is not None:
            raise ValueError("pass a session or a wire, not both")
        if adaptive is None and self.settings.rate is not None:
            # A rate told is a promise not to go faster, not a reason to ignore 429s: a server
            # with a strict spacing answers 429 to a client paced at exactly its limit.
            told = self.settings.rate
            adaptive = AdaptiveRate(rate=told, cap=told)
        self._sender = Sender(self.settings, wire, adaptive)
        self._life = _Life()
        # What a with_options() view sends instead of the client's own timeouts and retries.
        self._overrides: dict[str, Any] = {}
        # What listings found out about how the server pages, per path: shared by every
        # listing of this client, so each is found out once.
        self._facts: dict[str, tuple[ListingFacts, anyio.Lock]] = {}

    def __repr__(self) -> str:
        s = self.settings
        token = "set" if s.token is not None else "none"
        return f"<GlifClient api_url={s.api_url!r} simple_api_url={s.simple_api_url!r} token={token}>"

    async def __aenter__(self: _C) -> _C:
        life = self._life
        if life.state is _State.OPEN:
            return self  # opened on first use already: ``async with`` still closes it
        if life.state is not _State.UNOPENED or life.opening is not None:
            raise e.ClientClosedError("a GlifClient can be opened only once")
        await self._sender.open()
        # Listings fetch their pages in this task group: structured, and outliving no client.
        life.tasks = await life.stack.enter_async_context(anyio.create_task_group())
        life.state = _State.OPEN
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client (and every :meth:`with_options` view of it): its session, and the
        page fetches of its listings. A closed client raises :class:`ClientClosedError`."""
        life = self._life
        was, life.state = life.state, _State.CLOSED
        if was is _State.OPEN:
            if life.tasks is not None:
                life.tasks.cancel_scope.cancel()
            for task in life.loose:
                task.cancel()
            try:
                await life.stack.aclose()
                if life.loose:
                    await asyncio.wait(life.loose)
            finally:
                await self._sender.close()

    def with_options(
        self: _C, *, timeout: float | Timeouts | None = None, retry: RetryPolicy | None = None
    ) -> _C:
        """This client with other timeouts or retries, as openai-python's ``with_options``.

        A view, not a new client: it shares the session, the rate limiter, the 429 pause, the
        stats and the lifetime (closing either closes both). ``timeout`` is seconds for any one
        attempt (as the CLI's ``--timeout``: see :meth:`Timeouts.overall`) or a
        :class:`Timeouts`; the connect timeout stays the session's. None keeps the client's.
        """
        changes: dict[str, Any] = {}
        if timeout is not None:
            changes["timeouts"] = timeout if isinstance(timeout, Timeouts) else Timeouts.overall(timeout)
        if retry is not None:
            if not isinstance(retry, RetryPolicy):
                raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
            changes["retry"] = retry
        view = copy.copy(self)
        view.settings = dataclasses.replace(self.settings, **changes)
        view._overrides = {"timeouts": view.settings.timeouts, "retry": view.settings.retry}
        return view

    @property
    def rate(self) -> float | None:
        """Requests per second allowed now: the configured rate, or what ``rate="auto"`` found."""
        return self._sender.rate

    @property
    def stats(self) -> Stats:
        """Counters over the client's life: requests, retries, 429s, errors, bytes."""
        return self._sender.stats

    async def raw(
        self, call: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> RawResponse[T]:
        """``call(*args, **kwargs)`` (a method of this client) with the answer it read: status,
        headers, URL and body, next to the result in ``parsed``. For example
        ``r = await client.raw(client.get_glif, id)``: ``r.headers["Date"]``, ``r.parsed.name``.

        When a call reads more than one answer (``get_sphere`` may look the sphere up in the
        listing), the last one. Errors raise as without it, and carry ``.status_code`` and
        ``.headers`` themselves.
        """
        seen: list[Response] = []
        reset = CAPTURE.set(seen)
        try:
            parsed = await call(*args, **kwargs)
        finally:
            CAPTURE.reset(reset)
        if not seen:
            raise ValueError(f"{getattr(call, '__name__', call)!r} read no answer from the API")
        last = seen[-1]
        return RawResponse(last.status, last.headers, last.url, last.body, parsed)

    async def _open(self) -> None:
        """Open the client on its first use, as openai-python's clients do (once, however many
        tasks use it at the same moment); ``aclose()`` closes it."""
        life = self._life
        while life.state is not _State.OPEN:
            if life.state is _State.CLOSED:
                raise e.ClientClosedError("the client is closed")
            if life.opening is not None:
                await life.opening.wait()
                continue
            opening = life.opening = anyio.Event()
            try:
                await self._sender.open()
                life.state = _State.OPEN
            finally:
                life.opening = None
                opening.set()

    async def _get(self, path: str, params: Mapping[str, str], decoder: Any) -> Any:
        await self._open()
        url = f"{self.settings.api_url}{path}"
        return await self._sender.request(
            "GET", url, params=params, decoder=decoder, safety=Safety.IDEMPOTENT, **self._overrides
        )

    async def get_raw(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """``GET {api_url}{path}`` as sent: the body and the headers, for what no method covers
        (``aioglif probe`` reads the API's habits with it). Non-2xx raises as everywhere."""
        await self._open()
        headers: dict[str, str] = {}

        def keep(h: Mapping[str, str]) -> None:
            headers.update(h)

        body = await self._sender.request(
            "GET",
            f"{self.settings.api_url}{path}",
            params=params or {},
            decoder=bytes,
            safety=Safety.IDEMPOTENT,
            on_headers=keep,
            **self._overrides,
        )
        return body, headers

    def _url(self, path: str, params: Mapping[str, str]) -> str:
        q = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{self.settings.api_url}{path}?{q}"

    def _spawn(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        life = self._life
        if life.state is _State.CLOSED:
            raise e.ClientClosedError("the client is closed")
        if life.tasks is not None:
            life.tasks.start_soon(task)
            return
        # Not opened by ``async with``: the task's fetch opens the client (see _Life.loose).
        loose = asyncio.get_running_loop().create_task(task())
        life.loose.add(loose)
        loose.add_done_callback(life.loose.discard)

    @property
    def listing_facts(self) -> dict[str, ListingFacts]:
        """Per listing path: what this client's listings found out about the server's paging
        (first page number, page size served, whether ``page`` is honoured)."""
        return {path: facts for path, (facts, _) in self._facts.items()}

    def paginate(
        self,
        listing: Listing[T],
        *,
        decoder: Callable[[bytes], list[Any]] | None = None,
        page_size: int = 100,
        max_items: int | None = None,
        concurrency: int | None = None,
        ordered: bool = True,
        expected: int | None = None,
        start_page: int | None = None,
    ) -> AsyncPaginator[Any]:
        """Any listing (see :mod:`aioglif._listings`), decoded into models, or with ``decoder``
        (which must give items with ``id`` and ``created_at``; the crawler keeps raw JSON).

        ``start_page`` resumes at that page number as the server counts; None starts at the
        first page, whatever its number. ``expected`` (an item count) plans the pages; 0 sends
        no request at all.
        """
        if not listing.paged:
            raise ValueError(f"the {listing.name} listing is not paged: it is one answer")
        facts_lock = self._facts.get(listing.path)
        if facts_lock is None:
            facts_lock = self._facts[listing.path] = (ListingFacts(first_page=self.first_page), anyio.Lock())
        fetch = _PageFetch(
            self,
            f"{self.settings.api_url}{listing.path}",
            dict(listing.params),  # the listing's own: a caller's description may change later
            decoder if decoder is not None else listing.decoder(),
            listing.name,
        )
        return AsyncPaginator(
            fetch,
            spawn=self._spawn,
            key=_id,
            created=_created_at,
            page_size=page_size,
            max_items=max_items,
            concurrency=concurrency or self.page_concurrency,
            ordered=ordered,
            expected=expected,
            first_page=start_page,
            facts=facts_lock[0],
            facts_lock=facts_lock[1],
            name=fetch.name,
            probe=fetch.probe,
        )


# Every listed model (Glif, Run, Sphere) has both: attrgetter is the cheapest per-item call.
_id: Callable[[Any], str] = operator.attrgetter("id")
_created_at: Callable[[Any], _dt.datetime | None] = operator.attrgetter("created_at")


class _PageFetch:
    """How one listing asks for a page: its URL, its query and its decoder (an object, not
    closures: a crawl makes a listing per glif)."""

    __slots__ = ("_client", "_decode", "_listing", "_params", "_url")

    def __init__(
        self,
        client: BaseClient,
        url: str,
        params: Mapping[str, str],
        decode: Callable[[bytes], Any],
        listing: str,
    ) -> None:
        self._client, self._url, self._params = client, url, params
        self._decode, self._listing = decode, listing

    async def __call__(self, page: int, limit: int, stats: Stats, *, once: bool = False) -> Fetched[Any]:
        client = self._client
        if client._life.state is not _State.OPEN:
            await client._open()
        options = client._overrides
        if once:
            options = {**options, "retry": dataclasses.replace(client.settings.retry, attempts=1)}
        # The answer's headers, for its Date (a list's append: no function made per page).
        served: list[Mapping[str, str]] = []
        items = await client._sender.request(
            "GET",
            self._url,
            params={**self._params, "page": str(page), "limit": str(limit)},
            decoder=self._decode,
            safety=Safety.IDEMPOTENT,
            stats=stats,
            on_headers=served.append,
            **options,
        )
        date = served[-1].get("Date") if served else None
        return Fetched(items if type(items) is list else list(items), date)

    async def probe(self, page: int, limit: int, stats: Stats) -> Fetched[Any]:
        """One attempt: the page-0 question (a server that refuses page 0 is answered, not asked
        five times)."""
        return await self(page, limit, stats, once=True)

    def name(self) -> str:
        where = " ".join(f"{k}={v}" for k, v in self._params.items())
        return f"{self._listing}{' (' + where + ')' if where else ''}"
