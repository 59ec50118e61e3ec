"""``aioglif validate`` and ``aioglif create``: graphs from a file, checked before they are sent."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import anyio
import msgspec

from ..graph import errors, validate
from ..models import Graph
from ._client import client_from_flags
from ._exit import EXIT_OK
from ._output import emit_json

__all__ = ["MAX_GRAPH_FILE", "add_parsers", "load_graph_file"]

MAX_GRAPH_FILE = 64 * 2**20  # bytes: a graph of thousands of blocks is a few MB


def add_parsers(sub: Any) -> None:
    v = sub.add_parser("validate", help="check a graph file (JSON) and list every problem")
    v.add_argument("file", type=Path, help='{"nodes": [...]} or a create body {"name", "graph", ...}')
    c = sub.add_parser("create", help="create a glif from a graph file (validated first)")
    c.add_argument("file", type=Path, help="the graph, or a create body, as JSON (see validate)")
    c.add_argument("--name", help="the glif's name (default: the file's 'name')")
    c.add_argument("--description", help="the glif's description")
    c.add_argument("--publish", action="store_true", help="publish it (default: a draft)")
    c.add_argument("--no-validate", action="store_true", help="send it unchecked")
    v.set_defaults(handler=validate_command)
    c.set_defaults(handler=lambda args: anyio.run(_create, args))


def load_graph_file(path: Path) -> tuple[Graph, dict[str, Any]]:
    """A graph file: the graph itself, or a create body holding it. ValueError if unreadable."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_GRAPH_FILE + 1)  # not past the limit: /dev/zero is a file too
        if len(raw) > MAX_GRAPH_FILE:
            raise ValueError(f"{path} is larger than {MAX_GRAPH_FILE:,} bytes: not a graph")
        data = msgspec.json.decode(raw)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    body = data if isinstance(data, dict) and "graph" in data else {"graph": data}
    try:
        return msgspec.convert(body["graph"], Graph), body
    except msgspec.ValidationError as exc:
        raise ValueError(f'{path} holds no graph ({{"nodes": [...]}}): {exc}') from None


def validate_command(args: argparse.Namespace) -> int:
    graph, _ = load_graph_file(args.file)
    problems = validate(graph)
    bad = len(errors(problems))
    if args.json:
        report = {"file": str(args.file), "blocks": len(graph.nodes), "valid": not bad, "problems": problems}
        emit_json(report)
        return 1 if bad else 0
    for p in problems:
        print(f"{p.severity}: {p}")
    summary = f"{bad} error(s)" if bad else "valid"
    if len(problems) > bad:
        summary += f", {len(problems) - bad} warning(s)"
    print(f"{args.file}: {len(graph.nodes)} blocks, {summary}", file=sys.stderr)
    return 1 if bad else 0


async def _create(args: argparse.Namespace) -> int:
    graph, body = load_graph_file(args.file)
    name = args.name or body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("the glif needs a name: --name NAME, or 'name' in the file")
    description = args.description if args.description is not None else body.get("description") or ""
    async with client_from_flags(args) as client:
        glif = await client.create_glif(
            name, description=description, graph=graph, published=args.publish, validate=not args.no_validate
        )
    if args.json:
        emit_json(glif)
    else:
        print(glif.id)
    return EXIT_OK
