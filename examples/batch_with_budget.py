"""Run a glif once per row of a CSV file, and stop before the credits spent pass a budget.

    python examples/batch_with_budget.py GLIF_ID topics.csv --budget 25

The CSV's header names the glif's inputs. A header that names no input is refused before
anything is paid for (the API would ignore the column and run on the default). Results come out
in the order the runs finish, keyed by their row number.
"""

from __future__ import annotations

import argparse
import csv
import sys
from decimal import Decimal
from pathlib import Path

import anyio

from aioglif import GlifClient, GlifError
from aioglif.dispatch import Job, JobResult, dispatch


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows as input name -> value; a row shorter than the header leaves inputs out."""
    with path.open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return [dict(zip(header, row, strict=False)) for row in rows]


async def run_batch(
    glif_id: str, rows: list[dict[str, str]], budget: Decimal, concurrency: int = 4
) -> tuple[list[JobResult[int]], Decimal, bool]:
    """The results, the credits spent, and whether the budget stopped the batch."""
    jobs = [Job(glif_id, row, key=number) for number, row in enumerate(rows, start=1)]
    async with (
        GlifClient() as client,
        dispatch(client, jobs, concurrency=concurrency, max_credits=budget) as results,
    ):
        done = [r async for r in results]
        stats = results.stats
    return done, stats.credits, stats.stopped_by_budget


def row_number(result: JobResult[int]) -> int:
    return result.key


class Options(argparse.Namespace):
    glif_id: str
    csv: Path
    budget: Decimal
    concurrency: int


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("glif_id")
    parser.add_argument("csv", type=Path)
    parser.add_argument("--budget", type=Decimal, required=True, help="credits to spend at most")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv, namespace=Options())
    rows = read_rows(args.csv)
    try:
        results, spent, stopped = await run_batch(args.glif_id, rows, args.budget, args.concurrency)
    except GlifError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in sorted(results, key=row_number):
        print(f"row {r.key}: {r.output if r.ok else f'FAILED: {r.error}'}")
    print(f"{len(results)} of {len(rows)} rows, {spent} credits", file=sys.stderr)
    # Sent, but no answer came (a timeout, a dropped connection, a 5xx): they may have run and
    # been paid for. Look them up before running them again.
    unknown = [r.key for r in results if r.state == "unknown"]
    if unknown:
        print(f"rows sent without an answer (they may have run): {unknown}", file=sys.stderr)
    if stopped:
        print(f"stopped: the next run would likely pass the budget of {args.budget}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(anyio.run(main))
