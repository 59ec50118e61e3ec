"""Glif graphs as typed, validated objects: build, inspect, validate.

::

    from aioglif.graph import GraphBuilder

    b = GraphBuilder()
    topic = b.text_input("topic", label="Topic", default="otters")
    b.llm("poem", prompt=f"Write a haiku about {topic}.", model="gpt-4o", max_tokens=200)
    graph = b.build()          # a models.Graph, validated (GraphError lists every problem)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..models import Graph, Node
from ._blocks import (
    Block,
    CanvasBlock,
    ComfyBlock,
    GlifBlock,
    GPTBlock,
    ImageInputBlock,
    MultipickBlock,
    TextInputBlock,
    UnknownBlock,
    block_from_node,
    blocks,
    graph_from_blocks,
    is_input,
)
from ._validate import GraphError, Problem, Severity, errors, references, validate, warnings

__all__ = [
    "Block",
    "CanvasBlock",
    "ComfyBlock",
    "GPTBlock",
    "GlifBlock",
    "GraphBuilder",
    "GraphError",
    "ImageInputBlock",
    "InputSpec",
    "MultipickBlock",
    "Problem",
    "Severity",
    "TextInputBlock",
    "UnknownBlock",
    "block_from_node",
    "blocks",
    "check",
    "dependencies",
    "errors",
    "graph_from_blocks",
    "inputs",
    "nested_glifs",
    "output_block",
    "references",
    "validate",
    "warnings",
]


@dataclass(frozen=True)
class InputSpec:
    """What a run must (or may) give a glif: one input block."""

    name: str
    type: str
    label: str | None
    default: str | None
    options: list[str] | None = None


def inputs(graph: Graph) -> list[InputSpec]:
    """The glif's input blocks, in order: their names are the keys of named run inputs."""
    out = []
    for b in blocks(graph):
        if not is_input(b):
            continue
        label, default, options = b.params.get("label"), b.params.get("value"), b.params.get("options")
        out.append(
            InputSpec(
                b.name,
                b.type,
                label if isinstance(label, str) else None,
                default if isinstance(default, str) else None,
                list(options) if isinstance(options, list) else None,
            )
        )
    return out


def dependencies(graph: Graph) -> dict[str, set[str]]:
    """Block name -> the names of the blocks whose output it uses (``{name}`` references)."""
    names = {n.name for n in graph.nodes}
    return {name: {t for t, _ in refs if t in names} for name, refs in references(graph).items()}


def output_block(graph: Graph) -> Block | None:
    """The block the glif's output comes from: the last one that no other block uses."""
    used = set().union(*dependencies(graph).values()) if graph.nodes else set()
    for node in reversed(graph.nodes):
        if node.name not in used:
            return block_from_node(node)
    return None


def nested_glifs(graph: Graph) -> list[str]:
    """The ids of the glifs this one runs (its GlifBlocks), in order."""
    return [b.glif_id for b in blocks(graph) if isinstance(b, GlifBlock) and b.glif_id]


def check(graph: Graph) -> Graph:
    """The graph itself if it has no errors; otherwise :class:`GraphError` listing them.

    Warnings (what the API tolerates) never stop it: read them with :func:`validate`.
    """
    problems = validate(graph)
    if errors(problems):
        raise GraphError(errors(problems), warnings(problems))
    return graph


class GraphBuilder:
    """Builds a graph block by block. Each method returns the block; ``f"{block}"`` is a
    reference to it, so prompts are written as f-strings."""

    def __init__(self) -> None:
        self._blocks: list[Block] = []

    def add(self, block: Block) -> Block:
        self._blocks.append(block)
        return block

    def _add(self, cls: type[Block], name: str, params: dict[str, Any]) -> Any:
        return self.add(cls(name, {k: v for k, v in params.items() if v is not None}))

    def text_input(
        self, name: str, *, label: str | None = None, default: str | None = None
    ) -> TextInputBlock:
        return self._add(TextInputBlock, name, {"label": label, "value": default})  # type: ignore[no-any-return]

    def image_input(
        self, name: str, *, label: str | None = None, default: str | None = None
    ) -> ImageInputBlock:
        return self._add(ImageInputBlock, name, {"label": label, "value": default})  # type: ignore[no-any-return]

    def multipick(
        self,
        name: str,
        options: list[str],
        *,
        label: str | None = None,
        default: str | None = None,
        randomize: bool | None = None,
    ) -> MultipickBlock:
        params = {"label": label, "value": default, "options": list(options), "randomize": randomize}
        return self._add(MultipickBlock, name, params)  # type: ignore[no-any-return]

    def llm(
        self,
        name: str,
        *,
        prompt: str,
        model: str | None = None,
        system_prompt: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_mode: bool | None = None,
    ) -> GPTBlock:
        params = {
            "prompt": prompt,
            "model": model,
            "systemPrompt": system_prompt,
            "maxTokens": max_tokens,
            "temperature": temperature,
            "jsonMode": json_mode,
        }
        return self._add(GPTBlock, name, params)  # type: ignore[no-any-return]

    def glif(self, name: str, glif_id: str, *, input_values: list[object] | None = None) -> GlifBlock:
        params = {"id": glif_id, "inputValues": [] if input_values is None else list(input_values)}
        return self._add(GlifBlock, name, params)  # type: ignore[no-any-return]

    def block(self, type: str, name: str, **params: object) -> Block:
        """Any block, by its API type string and params (camelCase, as the API has them)."""
        # Typed if the type is known, else kept as it is.
        return self.add(block_from_node(Node(name=name, type=type, params=params)))

    def build(self, *, validate: bool = True) -> Graph:
        graph = graph_from_blocks(self._blocks)
        return check(graph) if validate else graph
