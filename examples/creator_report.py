"""A report on one creator: their glifs, what each takes as input, how its runs went, and a
remix graph built from their most-run glif, validated before anything is created.

    python examples/creator_report.py USERNAME [--runs-per-glif 20] [--create-remix]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from decimal import Decimal

import anyio

from aioglif import Glif, GlifClient, GlifError, NotFoundError
from aioglif.graph import GraphBuilder, errors, inputs, validate, warnings


@dataclass(frozen=True)
class GlifLine:
    glif: Glif
    input_names: list[str]
    runs_seen: int
    credits: Decimal
    filtered: int
    graph_warnings: int


async def report(client: GlifClient, username: str, runs_per_glif: int) -> list[GlifLine]:
    user = await client.get_user(username=username)
    lines = []
    async for listed in client.glifs(user_id=user.id):
        glif = await client.get_glif(listed.id)  # with its graph
        graph = glif.data
        names = [spec.name for spec in inputs(graph)] if graph is not None else []
        problems = validate(graph) if graph is not None else []
        spent, filtered, seen = Decimal(0), 0, 0
        async for run in client.runs(glif_id=glif.id, max_items=runs_per_glif):
            seen += 1
            spent += run.price or Decimal(0)
            filtered += run.nsfw_filtered
        lines.append(GlifLine(glif, names, seen, spent, filtered, len(warnings(problems))))
    return lines


async def create_remix(client: GlifClient, source: Glif) -> str:
    """A draft glif that runs ``source`` and rewrites its output: built, checked, created."""
    b = GraphBuilder()
    style = b.text_input("style", label="Rewrite in the style of", default="a pirate")
    original = b.glif("original", source.id)
    b.llm("remix", prompt=f"Rewrite this in the style of {style}:\n\n{original}", max_tokens=400)
    graph = b.build()  # raises GraphError on an error; warnings never stop it
    assert errors(validate(graph)) == []
    created = await client.create_glif(f"{source.name} (remix)", graph=graph)
    return created.id


def newest_first(line: GlifLine) -> float:
    return -line.glif.created_at.timestamp()


def run_count(line: GlifLine) -> int:
    return line.glif.completed_spell_run_count or 0


class Options(argparse.Namespace):
    username: str
    runs_per_glif: int
    create_remix: bool


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("username")
    parser.add_argument("--runs-per-glif", type=int, default=20)
    parser.add_argument("--create-remix", action="store_true", help="create a draft remix of the top glif")
    args = parser.parse_args(argv, namespace=Options())
    try:
        async with GlifClient() as client:
            lines = await report(client, args.username, args.runs_per_glif)
            for line in sorted(lines, key=newest_first):
                g = line.glif
                print(
                    f"{g.created_at:%Y-%m-%d} {g.name!r} ({g.id}):"
                    f" inputs {', '.join(line.input_names) or '-'};"
                    f" {line.runs_seen} runs seen, {line.credits} credits, {line.filtered} filtered;"
                    f" {line.graph_warnings} graph warnings"
                )
            if args.create_remix and lines:
                top = max(lines, key=run_count)
                print(f"remix of {top.glif.name!r}: {await create_remix(client, top.glif)}")
            stats = client.stats
            print(f"{stats.requests} requests, {stats.retries} retries, {stats.rate_limited} rate limited")
    except NotFoundError:
        print(f"no user {args.username!r}", file=sys.stderr)
        return 1
    except GlifError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(anyio.run(main))
