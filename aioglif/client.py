"""GlifClient: one method per endpoint of the Glif API, all I/O through the sender."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime as _dt
import enum
import operator
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Final, Literal, ParamSpec, TypeVar

import aiohttp
import anyio
import msgspec

from . import _errors as e
from . import _listings as listings
from . import models as m
from ._config import DEFAULT_MAX_BODY, Settings, Timeouts
from ._consistency import ListingFacts
from ._listings import Listing, sphere_parts
from ._protocol import (
    check_id,
    empty_answer,
    exactly_one,
    first_or_not_found,
    query,
    run_body,
    run_error_kind,
)
from ._rate import AdaptiveRate
from ._raw import CAPTURE, RawResponse
from ._retry import RetryPolicy, Safety
from ._sender import Sender, Stats
from ._wire import AiohttpWire, Response, Wire
from .pagination import AsyncPaginator, Fetched

__all__ = ["GlifClient"]

T = TypeVar("T")
P = ParamSpec("P")


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


def _one_or_first(tp: type[Any]) -> Any:
    """A decoder for endpoints whose shape is not evidenced: a bare object or an array of them."""
    both = msgspec.json.Decoder(tp | list[tp])  # type: ignore[valid-type]
    return both.decode


_GLIF_ANY: Final = _one_or_first(m.Glif)

_T = TypeVar("_T")
_Found = tuple[list[_T], str | None]


def _lookup(tp: type[_T]) -> Callable[[bytes], _Found[_T]]:
    """A decoder for a lookup by id: what was found (an array or a bare object), and, when
    nothing was, what the server said (``[]``, ``null``, ``{}`` and ``{"error": ...}`` all mean
    "no such id")."""
    both = msgspec.json.Decoder(tp | list[tp])  # type: ignore[valid-type]

    def decode(body: bytes) -> _Found[_T]:
        said = empty_answer(body)
        if said is not None:
            return [], said
        found = both.decode(body)
        return (found if isinstance(found, list) else [found]), None

    return decode


_GLIF_LOOKUP: Final = _lookup(m.Glif)
_RUN_LOOKUP: Final = _lookup(m.Run)
_USER_LOOKUP: Final = _lookup(m.User)
_BOT_LOOKUP: Final = _lookup(m.Bot)


def _sphere_shape(body: bytes) -> tuple[m.Sphere | None, list[m.Glif]]:
    """A sphere's answer in either plausible shape (see :func:`sphere_parts`)."""
    if empty_answer(body) is not None:
        return None, []
    sphere, glifs = sphere_parts(body)
    if sphere is not None:
        found = m.SPHERE.one.decode(sphere)
        return found, found.items
    return None, [m.GLIF.one.decode(raw) for raw in glifs]


class GlifClient:
    """An asyncio client of the Glif API. Use it as ``async with GlifClient() as client``, or
    without: it opens on first use, and ``await client.aclose()`` closes it.

    The token comes from ``token`` or ``GLIF_API_TOKEN``; the URLs from the arguments or
    ``GLIF_API_URL`` / ``GLIF_SIMPLE_API_URL``. ``rate`` caps requests per second (None: no cap),
    ``max_in_flight`` caps concurrent requests. ``max_body`` caps the bytes of one answer
    (decompressed; default 64 MiB): past it a request raises :class:`ResponseTooLarge`.
    ``timeouts`` bound each attempt (see :class:`Timeouts`). Pass ``session`` to share an
    aiohttp session that you open and close yourself, or ``wire`` to send through something else
    than the network (``aioglif.testing.MemoryWire(server)`` serves a fake server in memory).
    ``first_page`` is the number of the API's first page when known (0 or 1; None: each listing
    path asks for page 0 once to find out). ``anonymous=True`` sends no token at all, not even
    ``GLIF_API_TOKEN``'s. ``default_headers`` go with every request (a ``User-Agent`` among them
    replaces ``aioglif/<version>``; an ``Authorization`` is refused: pass ``token``).
    """

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

    async def __aenter__(self) -> GlifClient:
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
        self, *, timeout: float | Timeouts | None = None, retry: RetryPolicy | None = None
    ) -> GlifClient:
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
        url = f"{self.settings.api_url}{listing.path}"
        params = dict(listing.params)
        decode = decoder if decoder is not None else listing.decoder()
        if listing.path not in self._facts:
            self._facts[listing.path] = (ListingFacts(first_page=self.first_page), anyio.Lock())
        facts, lock = self._facts[listing.path]

        async def fetch(page: int, limit: int, stats: Stats, *, once: bool = False) -> Fetched[Any]:
            await self._open()
            options = dict(self._overrides)
            if once:
                options["retry"] = dataclasses.replace(self.settings.retry, attempts=1)
            served: list[str | None] = [None]

            def on_headers(headers: Mapping[str, str]) -> None:
                served[0] = headers.get("Date")

            items = await self._sender.request(
                "GET",
                url,
                params={**params, "page": str(page), "limit": str(limit)},
                decoder=decode,
                safety=Safety.IDEMPOTENT,
                stats=stats,
                on_headers=on_headers,
                **options,
            )
            return Fetched(items if type(items) is list else list(items), served[0])

        async def probe(page: int, limit: int, stats: Stats) -> Fetched[Any]:
            return await fetch(page, limit, stats, once=True)

        where = " ".join(f"{k}={v}" for k, v in params.items())
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
            facts=facts,
            facts_lock=lock,
            name=f"{listing.name}{' (' + where + ')' if where else ''}",
            probe=probe,
        )

    # --- glifs -----------------------------------------------------------------------------

    async def get_glif(self, id: str) -> m.Glif:
        """One glif with its graph. Raises :class:`NotFoundError` for an unknown id."""
        params = {"id": check_id(id, "glif id")}
        glifs, said = await self._get("/glifs", params, _GLIF_LOOKUP)
        url = self._url("/glifs", params)
        return first_or_not_found(glifs, "glif", f"id {id!r}", url=url, detail=said)  # type: ignore[no-any-return]

    def glifs(
        self,
        *,
        featured: bool = False,
        username: str | None = None,
        user_id: str | None = None,
        query: str | None = None,
        include_graph: bool = False,
        page_size: int = 100,
        max_items: int | None = None,
        concurrency: int | None = None,
        ordered: bool = True,
    ) -> AsyncPaginator[m.Glif]:
        """Public glifs, newest first: all, featured, a user's, or matching a search."""
        listing = listings.glifs(
            featured=featured,
            username=username,
            user_id=user_id,
            query_text=query,
            include_graph=include_graph,
        )
        return self.paginate(
            listing, page_size=page_size, max_items=max_items, concurrency=concurrency, ordered=ordered
        )

    async def create_glif(
        self,
        name: str,
        *,
        description: str = "",
        graph: m.Graph | Mapping[str, Any] | None = None,
        published: bool = False,
        validate: bool = True,
    ) -> m.Glif:
        """Create a glif (a draft unless ``published``). Never retried once it may have been sent.

        The graph is validated first (``validate=False`` skips it): a :class:`GraphError`
        (a ``ValueError``) lists every problem, and nothing is sent.
        """
        check_id(name, "name")
        body: dict[str, Any] = {
            "name": name,
            "description": description,
            "graph": msgspec.to_builtins(graph) if graph is not None else {"nodes": []},
        }
        if not isinstance(body["graph"], dict) or not isinstance(body["graph"].get("nodes"), list):
            raise ValueError("graph must be a Graph or a mapping with a 'nodes' list")
        if validate:
            from .graph import check

            try:
                check(msgspec.convert(body["graph"], m.Graph))
            except msgspec.ValidationError as exc:
                raise ValueError(f"graph is not a valid graph: {exc}") from None
        if published:
            now = _dt.datetime.now(_dt.timezone.utc)
            body["publishedAt"] = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        url = f"{self.settings.api_url}/glifs"
        await self._open()
        result = await self._sender.request(
            "POST", url, json=body, decoder=_GLIF_ANY, safety=Safety.UNSENT, **self._overrides
        )
        if isinstance(result, list):
            return first_or_not_found(result, "glif", "in the create response", url=url)  # type: ignore[no-any-return]
        return result  # type: ignore[no-any-return]

    # --- runs ------------------------------------------------------------------------------

    async def get_run(self, id: str) -> m.Run:
        """One run. Raises :class:`NotFoundError` for an unknown id (or a private run)."""
        params = {"id": check_id(id, "run id")}
        runs, said = await self._get("/runs", params, _RUN_LOOKUP)
        url = self._url("/runs", params)
        return first_or_not_found(runs, "run", f"id {id!r}", url=url, detail=said)  # type: ignore[no-any-return]

    def runs(
        self,
        *,
        glif_id: str | None = None,
        username: str | None = None,
        user_id: str | None = None,
        page_size: int = 100,
        max_items: int | None = None,
        concurrency: int | None = None,
        ordered: bool = True,
        expected: int | None = None,
    ) -> AsyncPaginator[m.Run]:
        """Public runs, newest first: of one glif, or of one user.

        ``expected`` (a glif's ``completed_spell_run_count``) plans the pages at once; 0 sends
        no request at all.
        """
        return self.paginate(
            listings.runs(glif_id=glif_id, username=username, user_id=user_id),
            page_size=page_size,
            max_items=max_items,
            concurrency=concurrency,
            ordered=ordered,
            expected=expected,
        )

    async def run_glif(
        self,
        id: str,
        inputs: Mapping[str, str] | Sequence[str] = (),
        *,
        visibility: str | None = None,
        strict: bool = False,
    ) -> m.RunResult:
        """Run a glif through the Simple API and wait for its result.

        ``inputs`` are named (block name → string) or positional. ``strict`` makes the server fail
        instead of filling missing inputs with defaults. A failed run raises
        :class:`RunFailedError`. Retried only where the run cannot have started.
        """
        result, _ = await self._run_glif(id, inputs, visibility=visibility, strict=strict)
        return result

    async def _run_glif(
        self,
        id: str,
        inputs: Mapping[str, str] | Sequence[str],
        *,
        visibility: str | None,
        strict: bool,
    ) -> tuple[m.RunResult, bytes]:
        """:meth:`run_glif`, also returning the answer as sent (the dispatcher stores it whole)."""
        body = run_body(id, inputs, visibility)
        await self._open()
        url = self.settings.simple_api_url
        result, raw = await self._sender.request(
            "POST",
            url,
            params=query(strict=strict),
            json=body,
            decoder=_decode_run,
            safety=Safety.UNSTARTED,
            run_timeouts=True,
            **self._overrides,
        )
        if result.error is None:
            return result, raw
        kind = run_error_kind(result.error)
        said = e.excerpt(result.error)
        if kind == "not_found":
            # The Simple API's 200 + "glif not found": the id is wrong, not the run.
            raise e.NotFoundError(
                f"no glif with id {id!r}: {said}", status=404, body=said.encode(), method="POST", url=url
            )
        cls = e.OutOfCreditsError if kind == "out_of_credits" else e.RunFailedError
        raise cls(f"run of glif {id!r} failed: {said}", result=result, body=raw, method="POST", url=url)

    # --- users -----------------------------------------------------------------------------

    async def get_user(self, *, id: str | None = None, username: str | None = None) -> m.User:
        """A user by id or username."""
        key, value = exactly_one("get_user()", id=id, username=username)
        params = {key: value}
        found, said = await self._get("/user", params, _USER_LOOKUP)
        url = self._url("/user", params)
        return first_or_not_found(found, "user", f"{key} {value!r}", url=url, detail=said)  # type: ignore[no-any-return]

    async def me(self) -> m.Me:
        """The token's own user and credits. Needs a token."""
        return await self._get("/me", {}, m.ME.decode)  # type: ignore[no-any-return]

    # --- agents (bots) ----------------------------------------------------------------------

    async def bots(
        self, *, sort: str | None = None, query: str | None = None, creator: str | None = None
    ) -> list[m.Bot]:
        """Agents ("bots"): ``sort`` is ``new``, ``popular`` or ``featured`` (the server's default
        when None), ``query`` searches, ``creator`` is a username.

        A list, not a paginator: the endpoint is undocumented, and the official client asks for
        it without ``page`` or ``limit`` and reads one array; nothing shows it pages.
        """
        spec = listings.bots(sort=sort, query=query, creator=creator)
        return await self._get(spec.path, spec.params, m.BOT.many.decode)  # type: ignore[no-any-return]

    async def get_bot(self, id: str) -> m.Bot:
        """One agent with its skills. Raises :class:`NotFoundError` for an unknown id."""
        params = {"id": check_id(id, "bot id")}
        found, said = await self._get("/bots", params, _BOT_LOOKUP)
        url = self._url("/bots", params)
        return first_or_not_found(found, "bot", f"id {id!r}", url=url, detail=said)  # type: ignore[no-any-return]

    # --- spheres ---------------------------------------------------------------------------

    def spheres(
        self, *, page_size: int = 100, max_items: int | None = None, concurrency: int | None = None
    ) -> AsyncPaginator[m.Sphere]:
        """The public spheres (staff-curated collections)."""
        return self.paginate(
            listings.spheres(), page_size=page_size, max_items=max_items, concurrency=concurrency
        )

    async def get_sphere(
        self, *, slug: str | None = None, id: str | None = None, include_graph: bool = False
    ) -> m.Sphere:
        """One sphere with its first page of glifs in ``glifs``.

        When the API answers with a bare array of glifs, the sphere itself is looked up in the
        list of spheres.
        """
        key, value = exactly_one("get_sphere()", slug=slug, id=id)
        params = {key: value, **query(includes="spells.data" if include_graph else None)}
        sphere, glifs = await self._get("/spheres", params, _sphere_shape)
        if sphere is not None:
            return sphere  # type: ignore[no-any-return]
        async for candidate in self.spheres():
            if getattr(candidate, key) == value:
                return msgspec.structs.replace(candidate, glifs=glifs)
        raise e.NotFoundError(
            f"no sphere with {key} {value!r}", status=404, method="GET", url=self._url("/spheres", params)
        )

    def sphere_glifs(
        self,
        *,
        slug: str | None = None,
        id: str | None = None,
        include_graph: bool = False,
        page_size: int = 100,
        max_items: int | None = None,
        concurrency: int | None = None,
        ordered: bool = True,
    ) -> AsyncPaginator[m.Glif]:
        """The glifs of a sphere, whichever shape the API answers in."""
        return self.paginate(
            listings.sphere_glifs(slug=slug, id=id, include_graph=include_graph),
            page_size=page_size,
            max_items=max_items,
            concurrency=concurrency,
            ordered=ordered,
        )


# Every listed model (Glif, Run, Sphere) has both: attrgetter is the cheapest per-item call.
_id: Callable[[Any], str] = operator.attrgetter("id")
_created_at: Callable[[Any], _dt.datetime | None] = operator.attrgetter("created_at")


def _decode_run(body: bytes) -> tuple[m.RunResult, bytes]:
    result = m.RUN_RESULT.decode(body)
    if result.error is not None and run_error_kind(result.error) == "rate_limited":
        # Said in a 200 ("for legacy reasons"): the run did not start; retried like a 429.
        raise e.RateLimitedError(f"rate limited (a 200 whose error says so): {e.excerpt(result.error)}")
    return result, body
