"""Checking a graph before the server does: pure, every problem at once, each with its place.

Two grades. An *error* is what would break a run: a reference to a missing or later block, a
cycle, a duplicate or malformed name, a missing type, a required param absent or unusable. A
*warning* is what the API tolerates as far as the evidence goes: a null optional param (real
graphs carry ``label: null``), an optional param of an unexpected type, an unknown param, a
block type aioglif does not know. Only errors stop :func:`check` and ``create_glif``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..models import Graph

__all__ = ["GraphError", "Problem", "Severity", "errors", "references", "validate", "warnings"]

Severity = Literal["error", "warning"]

NAME = re.compile(r"^[A-Za-z0-9_]+$")
REFERENCE = re.compile(r"\{([A-Za-z0-9_]+)\}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph: where (block, param) and what (a code and a sentence)."""

    code: str
    message: str
    block: str | None = None
    param: str | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = []
        if self.block is not None:
            where.append(f"block {self.block!r}")
        if self.param is not None:
            where.append(f"param {self.param!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if not p.is_error]


class GraphError(ValueError):
    """A graph that would break: ``problems`` lists its errors, ``warnings`` the rest."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None) -> None:
        self.problems = problems
        self.warnings = warnings or []
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the graph has {len(problems)} error(s):\n{lines}")


Check = Callable[[Any], str | None]


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def _nonempty(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _positive_int(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else "must be a positive integer"


def _temperature(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "must be a number"
    return None if 0 <= value <= 2 else "must be between 0 and 2"


def _strings(value: Any) -> str | None:
    ok = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
    return None if ok else "must be a non-empty list of strings"


def _list(value: Any) -> str | None:
    return None if isinstance(value, list) else "must be a list"


def _seed(value: Any) -> str | None:
    ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
    return None if ok else "must be an integer or null"


# Types named by the evidence whose params are not known: no param is checked, none is unknown.
OPAQUE = frozenset({"CanvasBlock"})
# type -> param -> (required, check). Only what the evidence shows; anything else is kept as is.
SPECS: dict[str, dict[str, tuple[bool, Check]]] = {
    "TextInputBlock": {"label": (False, _string), "value": (False, _string)},
    "ImageInputBlock": {"label": (False, _string), "value": (False, _string)},
    "MultipickBlock": {
        "label": (False, _string),
        "value": (False, _string),
        "options": (True, _strings),
        "randomize": (False, _bool),
    },
    "GPTBlock": {
        "prompt": (True, _string),
        "model": (False, _nonempty),
        "systemPrompt": (False, _string),
        "maxTokens": (False, _positive_int),
        "temperature": (False, _temperature),
        "jsonMode": (False, _bool),
        "api": (False, _string),
    },
    "GlifBlock": {"id": (True, _nonempty), "inputValues": (False, _list)},
    "ComfyBlock": {"value": (True, _string), "seed": (False, _seed)},
}


def _strings_in(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a param value, with the path of the param it is in."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item, path)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item, path)


def references(graph: Graph) -> dict[str, list[tuple[str, str]]]:
    """For each block, the ``{name}`` references in its params, as (name, param) pairs."""
    out: dict[str, list[tuple[str, str]]] = {}
    for node in graph.nodes:
        found = []
        for key, value in node.params.items():
            for param, text in _strings_in(value, key):
                found += [(ref, param) for ref in REFERENCE.findall(text)]
        out[node.name] = found
    return out


def validate(graph: Graph) -> list[Problem]:
    """Every problem of the graph, errors and warnings, in the order of its blocks.

    No errors (:func:`errors` is empty): the graph can be created and run.
    """
    problems: list[Problem] = []
    position: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        if not isinstance(node.name, str) or not NAME.match(node.name):
            problems.append(
                Problem("invalid-name", "names use letters, digits and underscores only", block=node.name)
            )
        elif node.name in position:
            problems.append(
                Problem(
                    "duplicate-name",
                    f"the name is used by block {position[node.name] + 1} too",
                    block=node.name,
                )
            )
        else:
            position[node.name] = i
        if not isinstance(node.type, str) or not node.type.strip():
            problems.append(Problem("missing-type", "the block has no type", block=node.name))
        elif node.type not in SPECS and node.type not in OPAQUE:
            problems.append(
                Problem("unknown-type", f"aioglif does not know {node.type}", node.name, severity="warning")
            )
        specs = SPECS.get(node.type, {})
        for param, (required, check) in specs.items():
            value = node.params.get(param)
            if param not in node.params or (value is None and required):
                if required:
                    problems.append(Problem("missing-param", f"{node.type} needs it", node.name, param))
                continue
            if value is None:
                if check(None) is not None:
                    problems.append(
                        Problem("null-param", "null (the API tolerates it)", node.name, param, "warning")
                    )
                continue
            error = check(value)
            if error is not None:
                problems.append(
                    Problem("invalid-param", error, node.name, param, "error" if required else "warning")
                )
        if specs:
            for param in node.params:
                if param not in specs:
                    problems.append(
                        Problem(
                            "unknown-param", f"not a known {node.type} param", node.name, param, "warning"
                        )
                    )
    refs = references(graph)
    for i, node in enumerate(graph.nodes):
        for target, param in refs.get(node.name, []):
            if target not in position:
                problems.append(
                    Problem("unknown-reference", f"{{{target}}} names no block", node.name, param)
                )
            elif target == node.name:
                problems.append(
                    Problem("self-reference", "a block cannot use its own output", node.name, param)
                )
            elif position[target] > i:
                problems.append(
                    Problem("forward-reference", f"{{{target}}} comes later in the graph", node.name, param)
                )
    problems += _cycles(graph, refs, position)
    return problems


def _cycles(graph: Graph, refs: dict[str, list[tuple[str, str]]], position: dict[str, int]) -> list[Problem]:
    """Cycles among blocks that reference each other (beyond a block naming itself)."""
    edges = {
        name: sorted({t for t, _ in refs.get(name, []) if t in position and t != name}) for name in position
    }
    state: dict[str, int] = {}  # 1: on the path, 2: done
    stack: list[str] = []
    found: list[Problem] = []
    seen_cycles: set[frozenset[str]] = set()

    def visit(root: str) -> None:
        # Depth-first with an explicit stack: a chain of thousands of blocks must not recurse.
        state[root] = 1
        stack.append(root)
        todo = [iter(edges[root])]
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                todo.pop()
                state[stack.pop()] = 2
            elif state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    path = " -> ".join([*cycle, nxt])
                    found.append(Problem("cycle", f"blocks depend on each other: {path}", block=nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append(nxt)
                todo.append(iter(edges[nxt]))

    for name in sorted(position, key=position.__getitem__):
        if name not in state:
            visit(name)
    return found
