"""What the fake server accepts, written from the public evidence and nothing else.

These rules deliberately do not import the client's (``aioglif.graph``): the fake stands for the
real API, so a client that is stricter than the evidence allows fails a test instead of agreeing
with itself. Each rule names its source in ``glif-api.md`` terms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["create_problems", "input_nodes", "run_inputs"]

# Node names are unique, letters, digits and underscores [DOCS-SITE glif-graph-json-schema].
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# Keys of a Simple API body that are not block names.
_BODY_KEYS = frozenset({"id", "inputs", "input", "visibility"})


def create_problems(body: Any) -> list[str]:
    """Why ``POST /api/glifs`` would refuse this body, or [] ([SEED] create: name, description,
    graph ``{"nodes": [{name, type, params}]}``, optional ``publishedAt`` date)."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = []
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        problems.append("name: must be a non-empty string")
    if not isinstance(body.get("description", ""), (str, type(None))):
        problems.append("description: must be a string")
    graph = body.get("graph")
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list):
        problems.append("graph: must be an object with a 'nodes' array")
        return problems
    problems += graph_problems(nodes)
    published = body.get("publishedAt")
    if published is not None:
        try:
            datetime.fromisoformat(str(published).replace("Z", "+00:00"))
        except ValueError:
            problems.append("publishedAt: must be an ISO 8601 date")
    return problems


def graph_problems(nodes: list[Any]) -> list[str]:
    """Only what the evidence says a graph must be. Unknown block types, unknown params and
    null params (``label: null`` is real: the official MCP client loosened its schema for it)
    are all accepted, as are references the API is not known to check."""
    problems: list[str] = []
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        where = f"nodes[{i}]"
        if not isinstance(node, dict):
            problems.append(f"{where}: must be an object")
            continue
        name, type_, params = node.get("name"), node.get("type"), node.get("params", {})
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}.name: letters, digits and underscores only")
        elif name in seen:
            problems.append(f"{where}.name: {name!r} is used twice")
        else:
            seen.add(name)
        if not isinstance(type_, str) or not type_.strip():
            problems.append(f"{where}.type: must be a non-empty string")
        if not isinstance(params, dict):
            problems.append(f"{where}.params: must be an object")
    return problems


def is_input(node: Mapping[str, Any]) -> bool:
    """Input blocks: every ``*InputBlock`` (text, image, audio, video ...) and the multipick
    [DOCS-SITE block list; third-party code matches /input/i on node types]."""
    type_ = str(node.get("type", ""))
    return "input" in type_.lower() or type_ == "MultipickBlock"


def input_nodes(nodes: list[Any]) -> list[dict[str, Any]]:
    return [n for n in nodes if isinstance(n, dict) and is_input(n)]


def run_inputs(
    nodes: list[Any], body: Mapping[str, Any], *, strict: bool, strict_inputs: bool = False
) -> tuple[dict[str, str], str | None]:
    """The inputs of a Simple API run as the API echoes them, or the error it answers with.

    Forms [DOCS-REPO][DOCS-SITE 2023][SEED][STAN]: ``inputs`` or legacy ``input`` holding a list
    (positional, re-keyed to input block names) or a name -> value object (a lone string is one
    positional value), or block names as top-level keys. Values are strings ("for now only
    string values are allowed"). Missing inputs get the block's default unless ``?strict=1``.
    Unknown names and surplus positional values are ignored, as the official Python client's
    live test expects [PYCLIENT]; ``strict_inputs`` refuses them instead.
    """
    blocks = input_nodes(nodes)
    names = [str(n.get("name")) for n in blocks]
    if "inputs" in body:
        given = body["inputs"]
    elif "input" in body:
        given = body["input"]
    else:
        given = {k: v for k, v in body.items() if k not in _BODY_KEYS}
    if given is None:
        given = {}
    if isinstance(given, str):
        given = [given]
    if isinstance(given, list):
        if len(given) > len(names) and strict_inputs:
            return {}, f"Too many inputs: the glif takes {len(names)}"
        given = dict(zip(names, given, strict=False))
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        return {}, "inputs must be a list of strings or an object of strings"
    unknown = sorted(set(given) - set(names))
    if unknown and strict_inputs:
        return {}, f"Unknown input names: {', '.join(unknown)} (inputs are: {', '.join(names)})"
    missing = [n for n in names if n not in given]
    if strict and missing:
        return {}, f"Missing inputs in strict mode: {', '.join(missing)}"
    defaults = {}
    for block in blocks:
        params = block.get("params")
        value = params.get("value") if isinstance(params, dict) else None
        defaults[str(block.get("name"))] = value if isinstance(value, str) else ""
    return {n: given[n] if n in given else defaults[n] for n in names}, None
