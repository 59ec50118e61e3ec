"""``aioglif fake-server``: a fake Glif API with synthetic data, optionally around a command."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import AsyncExitStack
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import anyio

from .._config import ENV_API_URL, ENV_SIMPLE_API_URL, ENV_TOKEN
from ._output import emit_json

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    fs = sub.add_parser("fake-server", help="serve a fake Glif API with synthetic data on 127.0.0.1")
    fs.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    fs.add_argument("--port", type=int, default=0, help="the port (default: a free one, printed)")
    fs.add_argument("--seed", type=int, default=0, help="the same seed makes the same data (default 0)")
    fs.add_argument("--users", type=int, default=50, help="users to generate (default 50)")
    fs.add_argument("--glifs", type=int, default=1000, help="glifs to generate (default 1000)")
    fs.add_argument("--runs", type=int, default=10000, help="runs to generate (default 10000)")
    fs.add_argument("--spheres", type=int, default=6, help="spheres to generate (default 6)")
    fs.add_argument("--bots", type=int, default=12, help="agents served at /api/bots")
    fs.add_argument("--runs-per-glif", metavar="LOW-HIGH", help="give each glif a uniform number of runs")
    fs.add_argument("--rate-limit", type=float, help="answer 429 above this many requests per second")
    fs.add_argument("--burst", type=int, default=1, help="requests the rate limit lets through at once")
    fs.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    fs.add_argument("--latency-jitter", type=float, default=0.0, help="up to this many seconds more")
    fs.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered 5xx")
    fs.add_argument("--run-latency", type=float, default=0.0, help="seconds a Simple API run takes")
    fs.add_argument("--max-concurrent-runs", type=int, help="runs a token may have at once (refused beyond)")
    fs.add_argument(
        "--simple-errors",
        choices=("body", "status"),
        default="body",
        help="how the Simple API refuses a run: 200 + error as documented (body), or 429/402/404 (status)",
    )
    fs.add_argument("--run-failure-rate", type=float, default=0.0, help="fraction of runs that fail")
    fs.add_argument("--credits", type=float, help="every user's credits (default: 100, 500 or 2000)")
    b = fs.add_argument_group("how listings behave (the API documents none of it)")
    b.add_argument("--profile", default="default", help="a named behaviour (see aioglif.testing.PROFILES)")
    b.add_argument(
        "--order",
        choices=("newest", "oldest", "likes", "featured", "relevance"),
        help="the order of every listing (default: the profile's)",
    )
    b.add_argument(
        "--page-cap", type=int, metavar="N", help="serve at most N items a page whatever limit asks"
    )
    b.add_argument("--ignore-page", action="store_true", help="every page is the first")
    b.add_argument(
        "--clamp-past-end", action="store_true", help="a page past the end answers the last page again"
    )
    b.add_argument("--first-page", type=int, choices=(0, 1), help="the number of the first page")
    b.add_argument("--run-count", choices=("exact", "missing", "stale"), help="completedSpellRunCount")
    b.add_argument(
        "--private-runs",
        choices=("hidden", "owner"),
        help="whether /api/runs lists a token's own private runs to it (owner) or public runs only"
        " (hidden, the documented case and the default)",
    )
    for what in ("delete-glif", "delete-run", "insert-glif", "insert-run"):
        b.add_argument(
            f"--{what}-every", type=int, default=0, metavar="N", help="before every N-th listing request"
        )
    fs.add_argument(
        "exec",
        nargs=argparse.REMAINDER,
        help="-- COMMAND...: run COMMAND against the server (GLIF_* variables set), then stop",
    )
    fs.set_defaults(handler=lambda args: int(anyio.run(_fake_server, args)))


async def _fake_server(args: argparse.Namespace) -> int:
    from ..testing import FakeData, FakeGlifServer, Faults

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
        bots=args.bots,
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
        simple_errors=args.simple_errors,
    )
    behaviour = _behaviour(args)
    async with AsyncExitStack() as stack:
        try:
            server = await stack.enter_async_context(
                FakeGlifServer(data, faults=faults, host=args.host, port=args.port, behaviour=behaviour)
            )
        except OSError as exc:
            raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        env = {
            ENV_API_URL: server.api_url,
            ENV_SIMPLE_API_URL: server.simple_api_url,
            ENV_TOKEN: server.token,
        }
        if args.json and not command:
            info = {
                "api_url": server.api_url,
                "simple_api_url": server.simple_api_url,
                "port": urlsplit(server.api_url).port,
                "token": server.token,
                "glifs": len(data.public_glifs),
                "runs": len(data.public_runs),
            }
            emit_json(info)
            await anyio.sleep_forever()
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
    return 0  # not reached: serving ends by a signal or with the command


def _behaviour(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from ..testing import Behaviour

    behaviour = Behaviour.named(args.profile)
    rules = {
        k: v
        for k, v in (
            ("order", args.order),
            ("page_cap", args.page_cap),
            ("first_page", args.first_page),
            ("ignore_page", args.ignore_page or None),
            ("clamp_past_end", args.clamp_past_end or None),
        )
        if v is not None
    }
    if rules:
        behaviour = behaviour.every_list(**rules)
    churn = {
        f"{w}_every": getattr(args, f"{w}_every")
        for w in ("delete_glif", "delete_run", "insert_glif", "insert_run")
        if getattr(args, f"{w}_every")
    }
    if args.run_count is not None:
        churn["run_count"] = args.run_count
    if args.private_runs is not None:
        churn["private_runs"] = args.private_runs
    return replace(behaviour, **churn) if churn else behaviour
