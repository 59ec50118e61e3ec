"""One description per listing of the Glif API: path, query, item type, where the items are in
the body and how the end is recognized. Pure: the client and the crawler both list through
these, so a rule (``featured=1``, ``includes=spells.data``, ``glifId``) is written once.

Every listing answers a bare JSON array of items per ``?page=&limit=`` (no envelope, no total,
no cursor): the end is an empty page, or a page shorter than the page size the server really
serves (learned at run time, see :mod:`aioglif.pagination`). A sphere's glifs may come as a
sphere object holding them, or as an array: :func:`sphere_parts` reads both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, Literal, TypeVar

import msgspec

from . import models as m
from ._protocol import at_most_one, bots_query, check_id, exactly_one, query

__all__ = ["Listing", "bots", "glif", "glifs", "runs", "sphere_glifs", "sphere_parts", "spheres"]

T = TypeVar("T")

_RAWS: Final = msgspec.json.Decoder(list[msgspec.Raw])
_BODY: Final = msgspec.json.Decoder(dict[str, msgspec.Raw] | list[msgspec.Raw])
_KEYS: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
# Keys that make an object a sphere rather than a glif.
_SPHERE_KEYS: Final = ("glifs", "spells", "slug")


@functools.cache
def _decoder(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp)


@functools.cache
def _array_decoder(item: Any) -> Callable[[bytes], list[Any]]:
    # Keyed by the item type itself: ``list[item]`` made anew for each listing would cost an
    # alias and its hash per glif.
    return _decoder(list[item]).decode


class Listing(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """A listing: ``GET {api}{path}?{params}&page=N&limit=M`` answering items of ``item``.

    ``shape`` says where the items are: ``array`` (the body is the array) or ``sphere`` (a
    sphere object holding them, or an array: :func:`sphere_parts`).
    """

    name: str
    path: str
    item: type[T]
    params: Mapping[str, str] = msgspec.field(default_factory=dict)
    shape: Literal["array", "sphere"] = "array"
    # False: one answer is the whole listing, asked for without ``page`` or ``limit``.
    paged: bool = True

    def raw_items(self, body: bytes) -> list[msgspec.Raw]:
        """The items of a page, each still its JSON as sent."""
        if self.shape == "sphere":
            return sphere_parts(body)[1]
        return _RAWS.decode(body)

    def decoder(self) -> Callable[[bytes], list[T]]:
        """A decoder of a page into models, built once per item type (a listing per glif must
        not pay for building one each)."""
        if self.shape == "array":
            item_type: Any = self.item
            return _array_decoder(item_type)
        item: Any = self.item
        one: msgspec.json.Decoder[T] = _decoder(item)

        def decode(body: bytes) -> list[T]:
            return [one.decode(raw) for raw in sphere_parts(body)[1]]

        return decode


def sphere_parts(body: bytes) -> tuple[bytes | None, list[msgspec.Raw]]:
    """A sphere's answer in either plausible shape: the sphere object (its JSON, if the body has
    one) and its glifs. An array may hold glifs, or one sphere (the ``?id=`` style of the other
    endpoints); an object holds its glifs under ``glifs`` or the API's old word ``spells``."""
    data: Any = _BODY.decode(body)
    sphere: bytes | None = None
    if isinstance(data, list):
        if not data or not bytes(data[0]).lstrip().startswith(b"{"):
            return None, data
        head = _KEYS.decode(data[0])
        if not any(k in head for k in _SPHERE_KEYS):
            return None, data
        sphere, data = bytes(data[0]), head
    else:
        sphere = body
    inner = data.get("glifs") or data.get("spells")
    return sphere, (_RAWS.decode(inner) if inner is not None else [])


def glifs(
    *,
    featured: bool = False,
    username: str | None = None,
    user_id: str | None = None,
    query_text: str | None = None,
    include_graph: bool = False,
) -> Listing[m.Glif]:
    """Public glifs: all, featured, a user's, or matching a search."""
    at_most_one("glifs()", username=username, user_id=user_id)
    if query_text is not None and not query_text.strip():
        raise ValueError("query must not be empty")
    params = query(
        featured=featured,
        username=username,
        userId=user_id,
        q=query_text,
        includes="spells.data" if include_graph else None,
    )
    return Listing("glifs", "/glifs", m.Glif, params)


def glif(id: str, *, include_graph: bool = True) -> Listing[m.Glif]:
    """One glif by id: the API answers an array of one (``[]`` for an unknown id). Its graph
    comes along without asking."""
    del include_graph  # a lookup by id always includes the graph
    return Listing("glif", "/glifs", m.Glif, {"id": check_id(id, "glif id")})


def runs(
    *, glif_id: str | None = None, username: str | None = None, user_id: str | None = None
) -> Listing[m.Run]:
    """Public runs: all, of one glif, of one user, or of one glif by one user (whether the API
    applies both filters at once is not known: check what comes)."""
    if glif_id is not None:
        # An empty id would be no filter at all: every public run, not this glif's.
        check_id(glif_id, "glif_id")
    if username is None and user_id is None:  # a glif's runs: a listing per glif in a crawl
        return Listing("runs", "/runs", m.Run, {} if glif_id is None else {"glifId": glif_id})
    at_most_one("runs()", username=username, user_id=user_id)
    return Listing("runs", "/runs", m.Run, query(glifId=glif_id, username=username, userId=user_id))


def spheres() -> Listing[m.Sphere]:
    """The public spheres."""
    return Listing("spheres", "/spheres", m.Sphere)


def sphere_glifs(
    *, slug: str | None = None, id: str | None = None, include_graph: bool = False
) -> Listing[m.Glif]:
    """The glifs of one sphere, by slug or id."""
    key, value = exactly_one("sphere_glifs()", slug=slug, id=id)
    params = {key: value, **query(includes="spells.data" if include_graph else None)}
    return Listing("sphere glifs", "/spheres", m.Glif, params, shape="sphere")


def bots(*, sort: str | None = None, query: str | None = None, creator: str | None = None) -> Listing[m.Bot]:
    """Agents (``/api/bots``, undocumented): not paged. The official client asks without
    ``page`` or ``limit`` and reads one array, and nothing shows the endpoint pages."""
    return Listing("bots", "/bots", m.Bot, bots_query(sort, query, creator), paged=False)
