"""GlifClient: one method per endpoint of the Glif API, all I/O through the sender. Its lifetime,
settings and generic calls (``raw``, ``get_raw``, ``paginate``) are in ``_base_client``."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import msgspec

from . import _errors as e
from . import _listings as listings
from . import models as m
from ._base_client import BaseClient
from ._listings import sphere_parts
from ._protocol import (
    check_id,
    empty_answer,
    exactly_one,
    first_or_not_found,
    query,
    run_body,
    run_error_kind,
)
from ._retry import Safety
from .pagination import AsyncPaginator

__all__ = ["GlifClient"]


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


class GlifClient(BaseClient):
    """An asyncio client of the Glif API. Use it as ``async with GlifClient() as client``, or
    without: it opens on first use, and ``await client.aclose()`` closes it.

    The token comes from ``token`` or ``GLIF_API_TOKEN``; the URLs from the arguments or
    ``GLIF_API_URL`` / ``GLIF_SIMPLE_API_URL``. ``rate`` caps requests per second (None: no cap),
    ``max_in_flight`` caps concurrent requests. ``max_body`` caps the bytes of one answer
    (decompressed; default 64 MiB): past it a request raises :class:`ResponseTooLarge`.
    Answers over ``large_body`` (default 4 MiB) are read one at a time, so that concurrency does
    not multiply ``max_body``.
    ``timeouts`` bound each attempt (see :class:`Timeouts`). Pass ``session`` to share an
    aiohttp session that you open and close yourself, or ``wire`` to send through something else
    than the network (``aioglif.testing.MemoryWire(server)`` serves a fake server in memory).
    ``first_page`` is the number of the API's first page when known (0 or 1; None: each listing
    path asks for page 0 once to find out). ``anonymous=True`` sends no token at all, not even
    ``GLIF_API_TOKEN``'s. ``default_headers`` go with every request (a ``User-Agent`` among them
    replaces ``aioglif/<version>``; an ``Authorization`` is refused: pass ``token``).
    """

    async def _find(
        self,
        path: str,
        params: Mapping[str, str],
        decoder: Callable[[bytes], _Found[_T]],
        what: str,
        key: str,
    ) -> _T:
        """A lookup by id (or name): the one record found, or :class:`NotFoundError` with what
        the server said."""
        found: _Found[_T] = await self._get(path, params, decoder)
        items, said = found
        return first_or_not_found(items, what, key, url=self._url(path, params), detail=said)

    # --- glifs -----------------------------------------------------------------------------

    async def get_glif(self, id: str) -> m.Glif:
        """One glif with its graph. Raises :class:`NotFoundError` for an unknown id."""
        return await self._find("/glifs", {"id": check_id(id, "glif id")}, _GLIF_LOOKUP, "glif", f"id {id!r}")

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
        return await self._find("/runs", {"id": check_id(id, "run id")}, _RUN_LOOKUP, "run", f"id {id!r}")

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
        """Public runs, newest first: of one glif, of one user, or both (the API may apply only
        one of two filters: the runs that come need checking).

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
        return await self._find("/user", {key: value}, _USER_LOOKUP, "user", f"{key} {value!r}")

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
        return await self._find("/bots", {"id": check_id(id, "bot id")}, _BOT_LOOKUP, "bot", f"id {id!r}")

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


def _decode_run(body: bytes) -> tuple[m.RunResult, bytes]:
    result = m.RUN_RESULT.decode(body)
    if result.error is not None and run_error_kind(result.error) == "rate_limited":
        # Said in a 200 ("for legacy reasons"): the run did not start; retried like a 429.
        raise e.RateLimitedError(f"rate limited (a 200 whose error says so): {e.excerpt(result.error)}")
    return result, body
