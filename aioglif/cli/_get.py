"""``aioglif get KIND KEY`` and ``aioglif me``: one record."""

from __future__ import annotations

import argparse
from typing import Any

import anyio
import msgspec

from ..graph import inputs as graph_inputs
from ..models import Graph
from ._client import client_from_flags
from ._exit import EXIT_OK
from ._output import COLUMNS, emit_json, print_indented, print_record, print_rows

__all__ = ["add_parsers"]

_INPUT_COLUMNS = ("name", "type", "label", "default", "options")


def add_parsers(sub: Any) -> None:
    get = sub.add_parser("get", help="get one glif, run, user, sphere or agent (bot)")
    get.add_argument("kind", choices=("glif", "run", "user", "sphere", "bot"), help="what KEY names")
    get.add_argument("key", help="the id (a username for users, a slug for spheres)")
    get.add_argument("--by-id", action="store_true", help="users and spheres: KEY is an id")
    get.add_argument(
        "--inputs", action="store_true", help="glifs: only the glif's inputs (name, type, label, ...)"
    )
    get.set_defaults(handler=lambda args: anyio.run(_get, args))

    me = sub.add_parser("me", help="the token's user and credits")
    me.set_defaults(handler=lambda args: anyio.run(_me, args))


async def _get(args: argparse.Namespace) -> int:
    async with client_from_flags(args) as client:
        record: msgspec.Struct
        if args.kind == "glif":
            record = await client.get_glif(args.key)
            if args.inputs:
                specs = graph_inputs(record.data or Graph())
                if args.json:
                    for spec in specs:
                        emit_json(spec)
                else:
                    rows = (
                        [s.name, s.type, s.label or "", s.default or "", ",".join(s.options or ())]
                        for s in specs
                    )
                    print_rows(_INPUT_COLUMNS, rows)
                return EXIT_OK
        elif args.kind == "bot":
            record = await client.get_bot(args.key)
        elif args.kind == "run":
            record = await client.get_run(args.key)
        elif args.kind == "user":
            record = await (
                client.get_user(id=args.key) if args.by_id else client.get_user(username=args.key)
            )
        else:
            record = await (
                client.get_sphere(id=args.key) if args.by_id else client.get_sphere(slug=args.key)
            )
    if args.json:
        emit_json(record)
    elif args.kind in ("glif", "bot"):  # their graph or skills do not fit a row
        print_indented(record)
    else:
        print_record(record, args, COLUMNS[type(record)])
    return EXIT_OK


async def _me(args: argparse.Namespace) -> int:
    async with client_from_flags(args) as client:
        me = await client.me()
    if args.json:
        emit_json(me)
        return EXIT_OK
    c = me.credits
    left = (
        f"{c.remaining:g} left, limit {c.limit:g} ({c.label})"
        if c and c.remaining is not None and c.limit is not None
        else "unknown"
    )
    print(f"{me.user.username} ({me.user.id}); credits: {left}")
    return EXIT_OK
