"""The ``aioglif`` command line: a fake server, and get/list/run against any Glif API."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import msgspec

from . import __version__
from . import models as m
from ._batch import batch_command
from ._config import ENV_API_URL, ENV_SIMPLE_API_URL, ENV_TOKEN
from ._errors import GlifError
from .client import GlifClient
from .crawl._cli import add_parser as add_crawl_parser
from .crawl._cli import crawl_command, positive
from .graph import inputs as graph_inputs
from .graph._cli import add_parsers as add_graph_parsers
from .graph._cli import load_graph_file, print_inputs, validate_command
from .models import Graph
from .pagination import AsyncPaginator

__all__ = ["main"]

EXIT_ERROR, EXIT_USAGE = 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aioglif", description="Talk to the Glif API, or serve a fake one.")
    p.add_argument("--version", action="version", version=f"aioglif {__version__}")
    p.add_argument("--api-url", help=f"REST API base (default: ${ENV_API_URL} or https://glif.app/api)")
    p.add_argument("--simple-api-url", help=f"Simple API base (default: ${ENV_SIMPLE_API_URL})")
    p.add_argument("--token", help=f"API token (default: ${ENV_TOKEN}); prefer the variable: argv is visible")
    p.add_argument(
        "--rate",
        type=positive(float),
        help="max requests per second (default 10; crawl: found from 429s; run --batch: none)",
    )
    p.add_argument("--json", action="store_true", help="print records as JSON lines")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fs = sub.add_parser("fake-server", help="serve a fake Glif API with synthetic data on 127.0.0.1")
    fs.add_argument("--host", default="127.0.0.1")
    fs.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    fs.add_argument("--seed", type=int, default=0)
    fs.add_argument("--users", type=int, default=50)
    fs.add_argument("--glifs", type=int, default=1000)
    fs.add_argument("--runs", type=int, default=10000)
    fs.add_argument("--spheres", type=int, default=6)
    fs.add_argument("--runs-per-glif", metavar="LOW-HIGH", help="give each glif a uniform number of runs")
    fs.add_argument("--rate-limit", type=float, help="answer 429 above this many requests per second")
    fs.add_argument("--burst", type=int, default=1, help="requests the rate limit lets through at once")
    fs.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    fs.add_argument("--latency-jitter", type=float, default=0.0, help="up to this many seconds more")
    fs.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered 5xx")
    fs.add_argument("--run-latency", type=float, default=0.0, help="seconds a Simple API run takes")
    fs.add_argument("--max-concurrent-runs", type=int, help="runs a token may have at once (429 beyond)")
    fs.add_argument("--run-failure-rate", type=float, default=0.0, help="fraction of runs that fail")
    fs.add_argument("--credits", type=float, help="every user's credits (default: 100, 500 or 2000)")
    fs.add_argument(
        "exec",
        nargs=argparse.REMAINDER,
        help="-- COMMAND...: run COMMAND against the server (GLIF_* variables set), then stop",
    )

    add_crawl_parser(sub)

    get = sub.add_parser("get", help="get one glif, run, user or sphere")
    get.add_argument("kind", choices=("glif", "run", "user", "sphere"))
    get.add_argument("key", help="the id (a username for users, a slug for spheres)")
    get.add_argument("--by-id", action="store_true", help="users and spheres: KEY is an id")
    get.add_argument("--inputs", action="store_true", help="glifs: print only the glif's inputs")

    add_graph_parsers(sub)

    ls = sub.add_parser("list", help="list glifs, runs, spheres or a sphere's glifs")
    ls.add_argument("kind", choices=("glifs", "runs", "spheres", "sphere-glifs"))
    ls.add_argument("--featured", action="store_true")
    ls.add_argument("--user", help="a username")
    ls.add_argument("--glif", help="runs of this glif id")
    ls.add_argument("--sphere", help="sphere-glifs: the sphere's slug")
    ls.add_argument("--query", help="glifs: text search")
    ls.add_argument("--graphs", action="store_true", help="glifs: include each graph")
    ls.add_argument("--limit", type=int, default=20, help="at most this many records (default 20)")

    sub.add_parser("me", help="the token's user and credits")

    run = sub.add_parser("run", help="run a glif once through the Simple API and print its output")
    run.add_argument("glif_id")
    run.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--public", action="store_true", help="make the run public")
    run.add_argument("--strict", action="store_true", help="fail instead of defaulting missing inputs")
    run.add_argument("--batch", type=Path, metavar="FILE", help="run once per row of a .csv or .jsonl file")
    run.add_argument("--out", type=Path, metavar="FILE", help="--batch: append results here (JSONL)")
    run.add_argument("--concurrency", type=positive(int), default=8, help="--batch: runs in flight")
    run.add_argument("--max-credits", type=positive(float), help="--batch: stop starting runs at this spend")
    run.add_argument(
        "--retry-unknown",
        action="store_true",
        help="--batch: run again jobs that were sent but have no result",
    )
    return p


def _client(args: argparse.Namespace) -> GlifClient:
    return GlifClient(
        args.token, api_url=args.api_url, simple_api_url=args.simple_api_url, rate=args.rate or 10.0
    )


Columns = Sequence[tuple[str, str]]  # (header, attribute path)


def _batch_client(args: argparse.Namespace) -> GlifClient:
    # Many runs: what loads the API is the runs in flight (--concurrency); a request rate
    # applies only when --rate gives one.
    rate: float | None = args.rate
    return GlifClient(
        args.token,
        api_url=args.api_url,
        simple_api_url=args.simple_api_url,
        rate=rate,
        max_in_flight=max(16, args.concurrency),
    )


def _print(records: Sequence[msgspec.Struct], args: argparse.Namespace, columns: Columns) -> None:
    if args.json:
        enc = msgspec.json.Encoder()
        for r in records:
            sys.stdout.write(enc.encode(r).decode() + "\n")
        return
    headers = [header for header, _ in columns]
    rows = [[_cell(r, path) for _, path in columns] for r in records]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the core install has no rich: plain tab-separated lines
        print("\t".join(headers))
        for row in rows:
            print("\t".join(row))
        return
    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _cell(record: Any, column: str) -> str:
    value = record
    for part in column.split("."):
        value = getattr(value, part, None)
    if value is None:
        return ""
    text = value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)
    return text if len(text) <= 60 else text[:59] + "…"


_COLUMNS: dict[type, Columns] = {
    m.Glif: (
        ("id", "id"),
        ("name", "name"),
        ("user", "user.username"),
        ("created", "created_at"),
        ("runs", "completed_spell_run_count"),
        ("likes", "likes"),
    ),
    m.Run: (
        ("id", "id"),
        ("glif", "spell.name"),
        ("user", "user.username"),
        ("created", "created_at"),
        ("output", "output_type"),
        ("price", "price"),
    ),
    m.User: (("id", "id"), ("username", "username"), ("name", "name")),
    m.Sphere: (("id", "id"), ("slug", "slug"), ("name", "name")),
}


async def _get(args: argparse.Namespace) -> None:
    async with _client(args) as client:
        record: msgspec.Struct
        if args.kind == "glif":
            record = await client.get_glif(args.key)
            if args.inputs:
                print_inputs(graph_inputs(record.data or Graph()))
                return
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
        if args.json or args.kind == "glif":
            sys.stdout.write(msgspec.json.format(msgspec.json.encode(record), indent=2).decode() + "\n")
        else:
            _print([record], args, _COLUMNS[type(record)])


async def _list(args: argparse.Namespace) -> None:
    limit = args.limit
    if limit < 1:
        raise ValueError("--limit must be at least 1")
    async with _client(args) as client:
        page_size = min(100, limit)
        listing: AsyncPaginator[Any]
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
        records = await listing.collect()
        kind = {"glifs": m.Glif, "runs": m.Run, "spheres": m.Sphere, "sphere-glifs": m.Glif}[args.kind]
        _print(records, args, _COLUMNS[kind])


async def _create(args: argparse.Namespace) -> None:
    graph, body = load_graph_file(args.file)
    name = args.name or body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("the glif needs a name: --name NAME, or 'name' in the file")
    description = args.description if args.description is not None else body.get("description") or ""
    async with _client(args) as client:
        glif = await client.create_glif(
            name, description=description, graph=graph, published=args.publish, validate=not args.no_validate
        )
    print(glif.id)


async def _me(args: argparse.Namespace) -> None:
    async with _client(args) as client:
        me = await client.me()
        if args.json:
            sys.stdout.write(msgspec.json.encode(me).decode() + "\n")
            return
        c = me.credits
        left = (
            f"{c.remaining:g} left, limit {c.limit:g} ({c.label})"
            if c and c.remaining is not None and c.limit is not None
            else "unknown"
        )
        print(f"{me.user.username} ({me.user.id}); credits: {left}")


async def _run(args: argparse.Namespace) -> None:
    inputs = {}
    for item in args.input:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--input takes NAME=VALUE, got {item!r}")
        inputs[name] = value
    async with _client(args) as client:
        result = await client.run_glif(
            args.glif_id, inputs, visibility="PUBLIC" if args.public else None, strict=args.strict
        )
        if args.json:
            sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
        else:
            print(result.output if result.output is not None else "")


async def _fake_server(args: argparse.Namespace) -> int:
    from .testing import FakeData, FakeGlifServer, Faults

    command = args.exec[1:] if args.exec[:1] == ["--"] else args.exec
    per_glif = None
    if args.runs_per_glif:
        low, sep, high = args.runs_per_glif.partition("-")
        if not sep or not low.isdigit() or not high.isdigit() or int(low) > int(high):
            raise ValueError(f"--runs-per-glif takes LOW-HIGH, got {args.runs_per_glif!r}")
        per_glif = (int(low), int(high))
    data = FakeData.generate(
        seed=args.seed,
        users=args.users,
        glifs=args.glifs,
        runs=args.runs,
        spheres=args.spheres,
        runs_per_glif=per_glif,
    )
    if args.credits is not None:
        data.credits = dict.fromkeys(data.credits, Decimal(str(args.credits)))
    faults = Faults(
        rate_limit=args.rate_limit,
        burst=args.burst,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        error_rate=args.error_rate,
        run_latency=args.run_latency,
        max_concurrent_runs=args.max_concurrent_runs,
        run_failure_rate=args.run_failure_rate,
    )
    async with FakeGlifServer(data, faults=faults, host=args.host, port=args.port) as server:
        env = {
            ENV_API_URL: server.api_url,
            ENV_SIMPLE_API_URL: server.simple_api_url,
            ENV_TOKEN: server.token,
        }
        print(
            f"fake Glif API on {server.api_url} (Simple API {server.simple_api_url}); "
            f"token {server.token!r}; {len(data.public_glifs)} glifs, {len(data.public_runs)} runs",
            file=sys.stderr,
            flush=True,
        )
        if not command:
            print("export " + " ".join(f"{k}={v}" for k, v in env.items()), file=sys.stderr, flush=True)
            await anyio.sleep_forever()
            return 0
        # The command finds this interpreter's scripts (aioglif itself) first on its PATH.
        bindir = os.path.dirname(sys.executable)
        child_env = {**os.environ, **env, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
        process = await anyio.open_process(command, stdin=None, stdout=None, stderr=None, env=child_env)
        return await process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"get": _get, "list": _list, "me": _me, "run": _run, "create": _create}
    try:
        if args.command == "fake-server":
            return int(anyio.run(_fake_server, args))
        if args.command == "crawl":
            return crawl_command(args)
        if args.command == "validate":
            return validate_command(args)
        if args.command == "run" and args.batch is not None:
            return batch_command(args, _batch_client)
        anyio.run(handlers[args.command], args)
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:
        print(f"aioglif: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except GlifError as exc:
        print(f"aioglif: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0
