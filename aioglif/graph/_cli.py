"""``aioglif validate`` and ``aioglif create``: graphs from a file, checked before they are sent."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from ..models import Graph
from . import InputSpec, validate

__all__ = ["add_parsers", "load_graph_file", "print_inputs"]


def add_parsers(sub: Any) -> None:
    v = sub.add_parser("validate", help="check a graph file (JSON) and list every problem")
    v.add_argument("file", type=Path, help='{"nodes": [...]} or a create body {"name", "graph", ...}')
    c = sub.add_parser("create", help="create a glif from a graph file (validated first)")
    c.add_argument("file", type=Path)
    c.add_argument("--name", help="the glif's name (default: the file's 'name')")
    c.add_argument("--description", help="the glif's description")
    c.add_argument("--publish", action="store_true", help="publish it (default: a draft)")
    c.add_argument("--no-validate", action="store_true", help="send it unchecked")


def load_graph_file(path: Path) -> tuple[Graph, dict[str, Any]]:
    """A graph file: the graph itself, or a create body holding it. ValueError if unreadable."""
    try:
        data = msgspec.json.decode(path.read_bytes())
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
    for p in problems:
        print(p)
    print(
        f"{args.file}: {len(graph.nodes)} blocks, "
        + (f"{len(problems)} problem(s)" if problems else "valid"),
        file=sys.stderr,
    )
    return 1 if problems else 0


def print_inputs(specs: list[InputSpec]) -> None:
    for s in specs:
        extra = f" options={s.options}" if s.options else ""
        print(f"{s.name}\t{s.type}\tlabel={s.label!r}\tdefault={s.default!r}{extra}")
