"""``aioglif run GLIF_ID``: one run, or one per row of a file with ``--batch``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio

from .._batch import STOP_GRACE, batch_command
from ..client import GlifClient
from ._client import client_from_flags, positive
from ._exit import EXIT_OK
from ._output import emit_json

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    run = sub.add_parser("run", help="run a glif once through the Simple API and print its output")
    run.add_argument("glif_id", help="the glif to run")
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a named input (repeat for each; `get glif ID --inputs` lists them)",
    )
    run.add_argument("--public", action="store_true", help="make the run public")
    run.add_argument("--strict", action="store_true", help="fail instead of defaulting missing inputs")
    run.add_argument("--batch", type=Path, metavar="FILE", help="run once per row of a .csv or .jsonl file")
    run.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="--batch: the results (JSONL; .csv or .parquet by name), exported from the job store"
        " FILE.jobs.sqlite beside it",
    )
    run.add_argument("--concurrency", type=positive(int), default=8, help="--batch: runs in flight")
    run.add_argument(
        "--max-credits",
        type=positive(float),
        help="--batch: a hard budget: spending passes it by one run's price at most",
    )
    run.add_argument(
        "--key", metavar="COLUMN", help="--batch: a column of yours that is part of each job's identity"
    )
    run.add_argument(
        "--fill-defaults",
        action="store_true",
        help="--batch: a CSV row with fewer cells than the header gets the glif's defaults",
    )
    run.add_argument("--retry-failed", action="store_true", help="--batch: run failed jobs again")
    run.add_argument(
        "--allow-unknown-inputs",
        action="store_true",
        help="--batch: send rows whose columns are no input of the glif (the API ignores them)",
    )
    run.add_argument(
        "--retry-unknown",
        action="store_true",
        help="--batch: run again jobs that were sent but have no answer (they may have been paid for)",
    )
    run.add_argument(
        "--stop-grace",
        type=_seconds,
        default=STOP_GRACE,
        metavar="SECONDS",
        help="--batch: after Ctrl-C, wait this long for the runs in flight, then give them up"
        f" (default {STOP_GRACE:g}: the process ends within 2 s). A run given up may have been"
        " paid for: it is left unknown, and looked up among your runs on the next start. A long"
        " grace waits for every paid answer; a second Ctrl-C gives them up at once",
    )
    run.set_defaults(handler=_run_command)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text}")
    return value


def _run_command(args: argparse.Namespace) -> int:
    if args.batch is not None:
        return batch_command(args, _batch_client)
    return anyio.run(_run, args)


def _batch_client(args: argparse.Namespace) -> GlifClient:
    # Many runs: what loads the API is the runs in flight (--concurrency).
    return client_from_flags(args, default_rate=None, max_in_flight=max(16, args.concurrency))


async def _run(args: argparse.Namespace) -> int:
    inputs = {}
    for item in args.input:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--input takes NAME=VALUE, got {item!r}")
        inputs[name] = value
    async with client_from_flags(args) as client:
        result = await client.run_glif(
            args.glif_id, inputs, visibility="PUBLIC" if args.public else None, strict=args.strict
        )
    if args.json:
        emit_json(result)
    else:
        print(result.output if result.output is not None else "")
    return EXIT_OK
