"""``aioglif list KIND``: glifs, runs, spheres, a sphere's glifs or agents (bots)."""

from __future__ import annotations

import argparse
from typing import Any

import anyio

from .. import models as m
from .._protocol import BOT_SORTS
from ..pagination import AsyncPaginator
from ._client import client_from_flags
from ._exit import EXIT_OK
from ._output import COLUMNS, print_listing

__all__ = ["add_parsers"]

_ITEM = {"glifs": m.Glif, "runs": m.Run, "spheres": m.Sphere, "sphere-glifs": m.Glif, "bots": m.Bot}


def add_parsers(sub: Any) -> None:
    ls = sub.add_parser("list", help="list glifs, runs, spheres, a sphere's glifs or agents (bots)")
    ls.add_argument("kind", choices=tuple(_ITEM), help="what to list")
    ls.add_argument("--featured", action="store_true", help="glifs: only the featured ones")
    ls.add_argument("--user", help="glifs or runs of this username (bots: the creator's)")
    ls.add_argument("--glif", help="runs of this glif id")
    ls.add_argument("--sphere", help="sphere-glifs: the sphere's slug")
    ls.add_argument("--query", help="glifs and bots: text search")
    ls.add_argument("--sort", choices=BOT_SORTS, help="bots: the order (default: the server's)")
    ls.add_argument("--graphs", action="store_true", help="glifs: include each graph")
    ls.add_argument("--limit", type=int, default=20, help="at most this many records (default 20)")
    ls.set_defaults(handler=lambda args: anyio.run(_list, args))


async def _list(args: argparse.Namespace) -> int:
    limit = args.limit
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    async with client_from_flags(args) as client:
        page_size = min(100, limit)
        listing: AsyncPaginator[Any]
        if args.kind == "bots":  # one answer, not pages (see GlifClient.bots)
            bots = await client.bots(sort=args.sort, query=args.query, creator=args.user)
            await print_listing(bots[:limit], args, COLUMNS[m.Bot])
            return EXIT_OK
        if args.sort is not None:
            raise ValueError("--sort is for bots only")
        if args.kind == "glifs":
            listing = client.glifs(
                featured=args.featured,
                username=args.user,
                query=args.query,
                include_graph=args.graphs,
                page_size=page_size,
                max_items=limit,
            )
        elif args.kind == "runs":
            listing = client.runs(glif_id=args.glif, username=args.user, page_size=page_size, max_items=limit)
        elif args.kind == "spheres":
            listing = client.spheres(page_size=page_size, max_items=limit)
        else:
            if not args.sphere:
                raise ValueError("list sphere-glifs needs --sphere SLUG")
            listing = client.sphere_glifs(slug=args.sphere, page_size=page_size, max_items=limit)
        await print_listing(listing, args, COLUMNS[_ITEM[args.kind]])
    return EXIT_OK
