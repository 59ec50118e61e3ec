"""The one way a command builds a client from its flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Literal

from .._config import Timeouts
from ..client import GlifClient

__all__ = ["client_from_flags", "positive"]

Rate = float | Literal["auto"] | None


def positive(kind: type[float] | type[int]) -> Callable[[str], Any]:
    """An argparse type: a number greater than 0."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a finite number greater than 0, got {text}")
        return value

    return parse


def client_from_flags(
    args: argparse.Namespace,
    *,
    default_rate: Rate = 10.0,
    api_url: str | None = None,
    token: str | None = None,
    max_in_flight: int = 16,
    page_concurrency: int = 8,
) -> GlifClient:
    """A client for the global flags.

    ``--rate R`` always means at most R requests per second. Without it each command has its
    default: 10/s for single requests, found from the 429s (``"auto"``) for a crawl, and none
    for batch runs, whose load is the runs in flight (``--concurrency``).
    ``api_url``/``token`` override the flags (a simulated crawl's own fake server).
    """
    rate: Rate = args.rate if args.rate else default_rate
    timeout = getattr(args, "timeout", None)
    return GlifClient(
        token if token is not None else args.token,
        api_url=api_url if api_url is not None else args.api_url,
        simple_api_url=args.simple_api_url,
        rate=rate,
        max_in_flight=max_in_flight,
        page_concurrency=page_concurrency,
        timeouts=Timeouts.overall(timeout) if timeout else None,
    )
