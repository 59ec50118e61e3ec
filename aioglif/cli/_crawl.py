"""``aioglif crawl``: the bulk harvest from the command line, with live progress and Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import anyio

from .._errors import NotFoundError
from ..client import GlifClient
from ..crawl._crawler import Crawl, Scope
from ..crawl._export import (
    TABLES,
    Format,
    check_export_dir,
    export_jsonl,
    export_parquet,
    export_path,
    parquet_available,
)
from ..crawl._store import Store
from ._client import client_from_flags, positive
from ._exit import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from ._output import emit_json, print_rows

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("crawl", help="harvest glifs, runs and users into SQLite (resumable)")
    p.add_argument(
        "--out", type=Path, help="the SQLite file (default glif.sqlite; --simulate: aioglif-simulated.sqlite)"
    )
    p.add_argument("--jsonl", type=Path, metavar="DIR", help="also write glifs.jsonl, runs.jsonl, ... here")
    p.add_argument("--gzip", action="store_true", help="gzip the JSONL files")
    p.add_argument(
        "--parquet", type=Path, metavar="DIR", help="also write Parquet files here (needs pyarrow)"
    )
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="exports hold only records harvested at or after WHEN: an ISO 8601 time, or 'start' "
        "(this crawl's start: what an --incremental crawl added)",
    )
    scope = p.add_argument_group("scope (default: all public glifs)")
    scope.add_argument("--all", action="store_true", help="all public glifs")
    scope.add_argument("--featured", action="store_true", help="the featured glifs")
    scope.add_argument(
        "--user", action="append", default=[], metavar="NAME", help="a user's glifs (and runs)"
    )
    scope.add_argument("--sphere", action="append", default=[], metavar="SLUG", help="a sphere's glifs")
    scope.add_argument(
        "--spheres",
        action="store_true",
        help="every sphere's glifs (the spheres listed when the crawl starts)",
    )
    scope.add_argument("--glif", action="append", default=[], metavar="ID", help="one glif")
    scope.add_argument("--runs", action="store_true", help="every public run of every harvested glif")
    scope.add_argument("--graphs", action="store_true", help="include each glif's graph")
    scope.add_argument(
        "--bots",
        action="store_true",
        help="agents (with --user: theirs; else every sort's) and the glifs they use",
    )
    p.add_argument("--concurrency", type=positive(int), default=16, help="listings worked on at once")
    p.add_argument("--incremental", action="store_true", help="fetch what is new since the last crawl")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="crawl a fake Glif API started in-process (offline; the other flags apply as given)",
    )
    p.add_argument(
        "--simulate-glifs", type=positive(int), default=2000, help="--simulate: glifs to generate (2000)"
    )
    p.add_argument(
        "--simulate-runs", type=positive(int), default=20000, help="--simulate: runs to generate (20000)"
    )
    p.add_argument(
        "--progress",
        choices=("auto", "rich", "plain", "none"),
        default="auto",
        help="live progress on stderr: rich (a table), plain (a line every 5 s), none; "
        "auto: rich on a terminal, else plain",
    )
    p.set_defaults(handler=crawl_command)


def _check_output(args: argparse.Namespace) -> Path:
    """Every check that needs no request; raises ValueError with a one-line reason."""
    out: Path = args.out or Path("aioglif-simulated.sqlite" if args.simulate else "glif.sqlite")
    parent = out.resolve().parent
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory")
    if not parent.is_dir():
        raise ValueError(f"cannot write {out}: {parent} does not exist")
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ValueError(f"cannot write {out}: permission denied")
    for name in ("jsonl", "parquet"):
        d: Path | None = getattr(args, name)
        if d is not None and (d.exists() and not d.is_dir()):
            raise ValueError(f"--{name} {d} is not a directory")
        if d is not None and not os.access(d if d.exists() else d.resolve().parent, os.W_OK):
            raise ValueError(f"cannot write into --{name} {d}")
    if args.parquet is not None and not parquet_available():
        raise ValueError("--parquet needs pyarrow: pip install 'aioglif[parquet]'")
    exports: tuple[tuple[Path | None, Format], ...] = (
        (args.jsonl, "jsonl.gz" if args.gzip else "jsonl"),
        (args.parquet, "parquet"),
    )
    for d, fmt in exports:
        if d is None:
            continue
        check_export_dir(d, fmt)
        if out.resolve() in {export_path(d, t, fmt).resolve() for t in TABLES}:
            # The export would be refused over the database only once the crawl is done.
            raise ValueError(f"--out {out} is where the export into {d} writes a table: name it otherwise")
    if out.exists() and out.stat().st_size:
        Store(out).close()  # raises StoreError for a file that is not ours, before anything is written
    return out


async def _check_scope(client: GlifClient, scope: Scope) -> None:
    for name in scope.users:
        try:
            await client.get_user(username=name)
        except NotFoundError:
            raise ValueError(f"no such user: {name!r}") from None
    for slug in scope.spheres:
        try:
            await client.get_sphere(slug=slug)
        except NotFoundError:
            raise ValueError(f"no such sphere: {slug!r}") from None


def crawl_command(args: argparse.Namespace) -> int:
    out = _check_output(args)
    args.since_time = _since(args.since)
    scope = Scope(
        all=args.all,
        featured=args.featured,
        users=tuple(args.user),
        spheres=tuple(args.sphere),
        glifs=tuple(args.glif),
        runs=args.runs,
        graphs=args.graphs,
        bots=args.bots,
    )
    return anyio.run(_crawl, args, out, scope)


async def _crawl(args: argparse.Namespace, out: Path, scope: Scope) -> int:
    if not args.simulate:
        return await _crawl_against(args, out, scope, args.api_url, args.token)
    from ..testing import FakeData, FakeGlifServer, Faults

    print(
        f"simulating: generating {args.simulate_glifs:,} glifs and {args.simulate_runs:,} runs ...",
        file=sys.stderr,
    )
    data = FakeData.generate(
        seed=1,
        users=max(10, args.simulate_glifs // 20),
        glifs=args.simulate_glifs,
        runs=args.simulate_runs,
        spheres=4,
    )
    # A realistic API: 20-50 ms a request, a rate limit of 100/s, one answer in a hundred a 5xx.
    faults = Faults(latency=0.02, latency_jitter=0.03, rate_limit=100.0, burst=5, error_rate=0.01, seed=1)
    async with FakeGlifServer(data, faults=faults) as server:
        print(f"fake Glif API on {server.api_url}", file=sys.stderr)
        return await _crawl_against(args, out, scope, server.api_url, server.token)


async def _crawl_against(
    args: argparse.Namespace, out: Path, scope: Scope, api_url: str | None, token: str | None
) -> int:
    async with client_from_flags(
        args,
        default_rate="auto",
        api_url=api_url,
        token=token,
        max_in_flight=max(16, args.concurrency),
        page_concurrency=8,
    ) as client:
        if args.spheres:
            slugs = {s.slug async for s in client.spheres(page_size=100) if s.slug}
            if not slugs:
                raise ValueError("--spheres: the API lists no spheres")
            scope = replace(scope, spheres=tuple(sorted(slugs | set(scope.spheres))))
        await _check_scope(client, scope)
        async with Crawl(client, scope, out, incremental=args.incremental, workers=args.concurrency) as crawl:
            status = await _run_with_progress(crawl, args.progress)
            if status == "complete" and not crawl.stats.pages and not args.incremental:
                print(f"{out}: this crawl is complete; --incremental fetches what is new", file=sys.stderr)
            exported = await _exports(crawl, args)
        if args.json:
            emit_json({**crawl.summary(), "output": str(out), "resumed": crawl.resumed, "exports": exported})
        else:
            _print_summary(crawl, out, exported)
    if status == "interrupted":
        print(
            f"interrupted: everything received is saved in {out}; run the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return EXIT_OK if status == "complete" else EXIT_ERROR


def _since(text: str | None) -> datetime | None:
    """``--since``: an ISO 8601 time (UTC unless it says otherwise), or ``start`` (now)."""
    if text is None:
        return None
    if text == "start":
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since takes an ISO 8601 time or 'start', got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def _exports(crawl: Crawl, args: argparse.Namespace) -> dict[str, dict[str, int]]:
    done: dict[str, dict[str, int]] = {}
    since = args.since_time
    if args.jsonl is not None:
        done["jsonl"] = await crawl._in_db(
            lambda: export_jsonl(crawl.store, args.jsonl, compress=args.gzip, since=since, scope=crawl.scope)
        )
    if args.parquet is not None:
        done["parquet"] = await crawl._in_db(
            lambda: export_parquet(crawl.store, args.parquet, since=since, scope=crawl.scope)
        )
    return done


async def _run_with_progress(crawl: Crawl, mode: str) -> str:
    result = "interrupted"
    async with anyio.create_task_group() as tg:

        async def signals() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                async for _ in received:
                    if crawl._stopping:
                        print("\naborting", file=sys.stderr)
                        tg.cancel_scope.cancel()
                        return
                    print(
                        "\nstopping: saving what arrives in the next second (Ctrl-C again to abort) ...",
                        file=sys.stderr,
                    )
                    crawl.stop()

        async def work() -> None:
            nonlocal result
            result = await crawl.run()
            tg.cancel_scope.cancel()

        tg.start_soon(signals)
        tg.start_soon(_progress, crawl, mode)
        tg.start_soon(work)
    return result


class _Eta:
    """The crawl's ETA: runs left over the rate of the last 30 s (not since the start, which slow
    start and the 429s' pauses distort). The planned work (the run counts of the glifs listed so
    far) grows while glifs are still being found: until their count stops moving the ETA is
    shown as a lower bound (``>= 3s``), since more glifs bring more runs."""

    WINDOW = 30.0

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.glifs = -1
        self.glifs_moved = 0.0

    def estimate(self, now: float, glifs: int, done: int, planned: int) -> str:
        if glifs != self.glifs:
            self.glifs, self.glifs_moved = glifs, now
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.WINDOW:
            self.samples.pop(0)
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 <= t0 or d1 <= d0:
            return "-"
        seconds = max(0, planned - done) / ((d1 - d0) / (t1 - t0))
        growing = now - self.glifs_moved < 10.0
        return (">= " if growing else "") + f"{seconds:.0f}s"


def _line(crawl: Crawl, eta_of: _Eta) -> dict[str, str]:
    s, c = crawl.stats, crawl.client.stats
    elapsed = max(1e-9, time.monotonic() - s.started)
    runs_done = s.new["runs"]
    eta = "-"
    if crawl.scope.runs and s.expected_runs and runs_done:
        eta = eta_of.estimate(time.monotonic(), s.new["glifs"], runs_done, s.expected_runs)
    rate = crawl.client.rate
    return {
        "elapsed": f"{elapsed:.0f}s",
        "glifs": f"{s.new['glifs']:,}",
        "runs": f"{runs_done:,}" + (f"/{s.expected_runs:,}" if s.expected_runs else ""),
        "records/s": f"{s.records / elapsed:,.0f}",
        "requests": f"{c.requests:,}",
        "req/s": f"{c.requests / elapsed:.1f}",
        "limit": "none" if rate is None else f"{rate:.1f}/s",
        "429s": str(c.rate_limited),
        "retries": str(c.retries),
        "errors": str(len(s.failures)),
        "quarantined": str(s.quarantined),
        "eta": eta,
    }


async def _progress(crawl: Crawl, mode: str) -> None:
    eta_of = _Eta()
    if mode == "none":
        return
    # Progress is for the person at the terminal: on stderr, so stdout stays the summary.
    fancy = mode == "rich" or (mode == "auto" and sys.stderr.isatty())
    if fancy:
        try:
            from rich.console import Console
            from rich.live import Live
            from rich.table import Table
        except ImportError:
            fancy = False
    if not fancy:
        while True:
            await anyio.sleep(5)
            print("  ".join(f"{k} {v}" for k, v in _line(crawl, eta_of).items()), file=sys.stderr, flush=True)

    def render() -> Table:
        # Two columns (what, how much): readable at 80 columns, unlike a row of twelve.
        t = Table(title="aioglif crawl", show_header=False)
        for k, v in _line(crawl, eta_of).items():
            t.add_row(k, v)
        return t

    with Live(render(), console=Console(stderr=True), refresh_per_second=4, transient=True) as live:
        while True:
            await anyio.sleep(0.25)
            live.update(render())


def _time_shares(s: dict[str, Any]) -> str:
    """Where the wall-clock time went. Decoding (the event loop) and writing (one thread) are
    shares of it; the limiter and the network are sums over concurrent requests, so they are
    shown as how many requests were, on average, waiting or in flight."""
    wall = max(s["seconds"], 1e-9)
    return (
        f"{s['seconds']:.1f}s; decoding {s['decode_seconds'] / wall:.0%} and writing "
        f"{s['write_seconds'] / wall:.0%} of it; on average {s['network_seconds'] / wall:.1f} "
        f"requests in flight and {s['limiter_seconds'] / wall:.1f} waiting for the rate limit"
    )


def _print_summary(crawl: Crawl, out: Path, exported: dict[str, dict[str, int]]) -> None:
    s = crawl.summary()
    rows = [
        ("status", s["status"] + (" (resumed)" if crawl.resumed else "")),
        ("output", str(out)),
        (
            "new glifs / runs / spheres",
            f"{s['new']['glifs']:,} / {s['new']['runs']:,} / {s['new']['spheres']:,}",
        ),
        *([("new bots", f"{s['new']['bots']:,}")] if crawl.scope.bots else []),
        ("records written", f"{s['records']:,}"),
        ("requests (useful pages)", f"{s['requests']:,} ({s['useful_pages']:,} of {s['pages']:,} pages)"),
        ("429s / retries", f"{s['rate_limited']} / {s['retries']}"),
        ("quarantined", str(s["quarantined"])),
        ("failed listings", "; ".join(f"{k}: {v}" for k, v in s["failures"].items()) or "none"),
        ("gone (deleted while crawled)", f"{s['gone']:,} glifs; runs listed again {s['relisted']:,}"),
        ("time", _time_shares(s)),
    ]
    for kind, tables in exported.items():
        rows.append((kind, ", ".join(f"{t} {n:,}" for t, n in tables.items())))
    print_rows(None, rows, title="crawl summary")
