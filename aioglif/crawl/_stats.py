"""The crawl's counters and the summary made of them and of the client's. Its own module: the
crawl only adds to the counters; reading them (the command line, the stored summary) needs
no crawl machinery."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .._stats import Stats as ClientStats

__all__ = ["CrawlStats", "summarize"]


@dataclass
class CrawlStats:
    """Where the crawl is, and where its time went. The client's counters sit beside these."""

    new: dict[str, int] = field(default_factory=lambda: {"glifs": 0, "runs": 0, "spheres": 0, "bots": 0})
    records: int = 0  # records written, new or refreshed
    pages: int = 0
    useful_pages: int = 0  # pages that brought at least one new record
    quarantined: int = 0
    listings_done: int = 0
    listings_failed: int = 0
    expected_runs: int = 0  # the sum of the harvested glifs' run counts, for an ETA
    decode_seconds: float = 0.0
    write_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    failures: dict[str, str] = field(default_factory=dict)
    gone: int = 0  # listings whose glif was deleted while the crawl ran (not failures)
    relisted: int = 0  # runs listings read again by the reconciliation


def summarize(status: str, s: CrawlStats, c: ClientStats) -> dict[str, Any]:
    """The crawl's figures and the client's, as one flat record (printed, and kept with the crawl)."""
    return {
        "status": status,
        "new": s.new,
        "records": s.records,
        "pages": s.pages,
        "useful_pages": s.useful_pages,
        "quarantined": s.quarantined,
        "listings_done": s.listings_done,
        "listings_failed": s.listings_failed,
        "failures": s.failures,
        "gone": s.gone,
        "relisted": s.relisted,
        "requests": c.requests,
        "retries": c.retries,
        "rate_limited": c.rate_limited,
        "errors": c.errors,
        "seconds": time.monotonic() - s.started,
        "limiter_seconds": c.limiter_seconds,
        "network_seconds": c.network_seconds,
        "decode_seconds": s.decode_seconds,
        "write_seconds": s.write_seconds,
    }
