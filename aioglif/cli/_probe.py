"""``aioglif probe``: which of the API's undocumented habits hold, in a short polite session."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from .._probe import probe
from ..client import GlifClient
from ._client import client_from_flags, positive
from ._exit import EXIT_OK

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "probe",
        help="find out how the API pages, orders and limits (at most 30 requests, 1 per second)",
    )
    p.add_argument(
        "--max-requests", type=positive(int), default=30, help="the request budget (default 30, at least 10)"
    )
    p.set_defaults(handler=lambda args: anyio.run(_probe, args))


async def _probe(args: argparse.Namespace) -> int:
    if args.max_requests < 10:
        raise ValueError("--max-requests must be at least 10")
    # One request a second unless --rate says otherwise: the probe is a guest.
    async with (
        client_from_flags(args, default_rate=1.0, max_in_flight=1, page_concurrency=1) as client,
        GlifClient(
            api_url=client.settings.api_url,
            simple_api_url=client.settings.simple_api_url,
            rate=client.rate,
            anonymous=True,
        ) as anonymous,
    ):
        report = await probe(client, max_requests=args.max_requests, anonymous=anonymous)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return EXIT_OK
    rows = report.rows()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:>{width}}  {value}")
    sys.stdout.flush()
    return EXIT_OK
