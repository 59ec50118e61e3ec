"""What can go wrong on the fake server: random faults, scripted ones, and the request record."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Literal

from ._limits import LimitShape

__all__ = ["Fault", "Faults", "RecordedRequest"]


@dataclass
class Faults:
    """Random faults, applied to every request; change them while the server runs."""

    latency: float = 0.0  # seconds added before each answer
    latency_jitter: float = 0.0  # plus up to this many seconds more, at random: answers reorder
    run_latency: float = 0.0  # seconds every Simple API run takes, at least
    # A run of a glif takes its averageDuration times this, ±20% at random: 0.001 turns a glif
    # of 30 s into 30 ms. 0: runs take only run_latency.
    run_time_scale: float = 0.0
    run_failure_rate: float = 0.0  # fraction of runs that fail (200 with "error")
    max_concurrent_runs: int | None = None  # per token; beyond it a run is refused (see simple_errors)
    rate_limit: float | None = None  # requests per second per token (or per client without one)
    # How the limit is counted (see aioglif.testing._limits): a token bucket, fixed or sliding
    # windows of ``window`` seconds, or a cap of ``rate_limit`` requests being answered at once.
    limiter: LimitShape = "bucket"
    burst: int = 1  # requests the token bucket lets through at once
    window: float = 1.0  # seconds of a fixed or sliding window
    retry_after: Literal["seconds", "date", "none"] = "seconds"
    rate_limit_headers: bool = False  # X-RateLimit-Limit/-Remaining/-Reset on every answer
    error_rate: float = 0.0  # fraction answered 500/502/503/504
    drop_rate: float = 0.0  # fraction whose connection is closed without an answer
    truncate_rate: float = 0.0  # fraction whose body is cut short and the connection closed
    seed: int = 0
    # How the Simple API says a run was refused (too many at once, no credits, no such glif):
    # "body" as documented, 200 with an ``error`` text ("for legacy reasons"); "status" as the
    # 2023 docs said, 429 / 402 / 404 with the same text.
    simple_errors: Literal["body", "status"] = "body"
    run_price: str | None = None  # the price every run reports and costs ("NaN", "-1", "abc" allowed)
    # The price of the n-th run started, in order, the last one for every run after it (prices
    # that change at a moment picked by progress); over ``run_price`` when given.
    run_prices: tuple[str, ...] = ()
    run_output: Literal["string", "list", "object"] = "string"  # the shape of ``output``


@dataclass(frozen=True)
class Fault:
    """A scripted fault for the next matching request (see :meth:`FakeGlifServer.inject`)."""

    kind: Literal[
        "status",
        "drop",
        "truncate",
        "invalid_json",
        "redirect",
        "delay",
        "hold",
        # hostile answers (see the methods below)
        "huge_body",
        "gzip_bomb",
        "drip",
        "bad_utf8",
        "deep_nesting",
        "echo",
        "header",
    ]
    status: int = 503
    retry_after: str | None = None
    location: str | None = None
    body: bytes | None = None
    seconds: float = 0.0
    size: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    until: asyncio.Event | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Refused here, not where the server meets them: a negative drip failed inside the
        # in-memory wire with anyio's own error, a header holding a line break in aiohttp.
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {self.seconds!r}")
        if self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size!r}")
        for name, value in self.headers:
            if any(c in f"{name}{value}" for c in "\r\n") or ":" in name or not name:
                raise ValueError(f"not a header an answer can carry: {name!r}: {value!r}")

    @classmethod
    def answer(
        cls, status: int, *, retry_after: str | float | None = None, body: bytes | None = None
    ) -> Fault:
        return cls("status", status, None if retry_after is None else str(retry_after), body=body)

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")

    @classmethod
    def truncate(cls) -> Fault:
        return cls("truncate")

    @classmethod
    def invalid_json(cls) -> Fault:
        return cls("invalid_json")

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        return cls("redirect", status, location=location)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, but only after ``seconds``: reorders concurrent answers on purpose."""
        return cls("delay", seconds=seconds)

    @classmethod
    def hold(cls, until: asyncio.Event) -> Fault:
        """Answer normally once ``until`` is set: a test orders answers by events, not by time."""
        return cls("hold", until=until)

    # --- hostile answers: a client must survive each with bounded memory and time ------------

    @classmethod
    def huge_body(cls, size: int = 300 * 2**20) -> Fault:
        """200 with a valid JSON array ``size`` bytes long, streamed (never held by the server)."""
        return cls("huge_body", 200, size=size)

    @classmethod
    def gzip_bomb(cls, size: int = 500 * 2**20) -> Fault:
        """200 with ``Content-Encoding: gzip``: about ``size``/1000 bytes that inflate to ``size``."""
        return cls("gzip_bomb", 200, size=size)

    @classmethod
    def drip(cls, seconds: float = 1.0) -> Fault:
        """The normal answer, one byte every ``seconds``: each byte beats a read timeout."""
        return cls("drip", seconds=seconds)

    @classmethod
    def bad_utf8(cls) -> Fault:
        """The normal answer with invalid UTF-8 inside its first string (in the first record)."""
        return cls("bad_utf8")

    @classmethod
    def deep_nesting(cls, depth: int = 100_000) -> Fault:
        """200 with a record holding arrays nested ``depth`` deep."""
        return cls("deep_nesting", 200, size=depth)

    @classmethod
    def echo(cls, status: int = 400) -> Fault:
        """An answer that quotes the request's ``Authorization`` header in its ``error``. With
        ``status=200`` on the Simple API it is a failed run whose error holds the token."""
        return cls("echo", status)

    @classmethod
    def header(cls, name: str, value: str) -> Fault:
        """The normal answer with one more header, e.g. a ``Date`` or ``Retry-After`` nobody can parse."""
        return cls("header", headers=((name, value),))


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: bytes
    time: float
    status: int = 0  # 0: no answer (dropped)
    fault: str | None = None
    empty: bool = False  # answered 200 with an empty array: a page past the end
