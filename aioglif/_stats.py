"""A client's counters (and a listing's, which adds its own)."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["Stats", "bump"]


@dataclass
class Stats:
    """Counters of one client (or one listing); read them for progress displays."""

    requests: int = 0  # HTTP requests sent, retries and redirect hops included
    retries: int = 0
    rate_limited: int = 0  # 429 answers received
    errors: int = 0  # attempts that failed: transport, non-2xx, undecodable
    redirects: int = 0
    bytes_received: int = 0
    limiter_seconds: float = 0.0  # waiting for the rate limiter (and a 429's pause)
    network_seconds: float = 0.0  # from sending a request to having its whole body

    def snapshot(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def bump(sinks: tuple[Stats, ...], name: str, n: float = 1) -> None:
    for sink in sinks:
        setattr(sink, name, getattr(sink, name) + n)
