"""Typed blocks of a glif's graph, as views over each node's open ``params``.

A typed block reads and writes the very ``params`` mapping it came with, so converting a node
to a block and back gives the same JSON, unknown params and unknown block types included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Generic, TypeVar, cast, overload

from ..models import Graph, Node

__all__ = [
    "Block",
    "CanvasBlock",
    "ComfyBlock",
    "GPTBlock",
    "GlifBlock",
    "ImageInputBlock",
    "MultipickBlock",
    "TextInputBlock",
    "UnknownBlock",
    "block_from_node",
    "blocks",
    "graph_from_blocks",
]

V = TypeVar("V")


class _Param(Generic[V]):
    """A typed attribute stored under an API key in the block's ``params``."""

    def __init__(self, key: str) -> None:
        self.key = key

    @overload
    def __get__(self, block: None, owner: type) -> _Param[V]: ...
    @overload
    def __get__(self, block: Block, owner: type) -> V | None: ...
    def __get__(self, block: Block | None, owner: type) -> V | _Param[V] | None:
        if block is None:
            return self
        # The params are open JSON: the typed view trusts the API's type for a known param.
        return cast("V | None", block.params.get(self.key))

    def __set__(self, block: Block, value: V | None) -> None:
        if value is None:
            block.params.pop(self.key, None)
        else:
            block.params[self.key] = value


class Block:
    """A block of a graph: a unique ``name``, a ``type`` string and its ``params``."""

    TYPE: ClassVar[str] = ""
    INPUT: ClassVar[bool] = False  # blocks a run's inputs fill in

    __slots__ = ("name", "params", "type")

    def __init__(
        self, name: str, params: Mapping[str, object] | None = None, *, type: str | None = None
    ) -> None:
        self.name = name
        self.type = type or self.TYPE
        self.params: dict[str, object] = dict(params or {})

    def to_node(self) -> Node:
        return Node(name=self.name, type=self.type, params=dict(self.params))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Block) and (self.name, self.type, self.params) == (
            other.name,
            other.type,
            other.params,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, type={self.type!r}, params={self.params!r})"

    def __format__(self, spec: str) -> str:
        # f"{block}" writes a reference to it, the way prompts refer to other blocks.
        return "{" + self.name + "}"


class TextInputBlock(Block):
    TYPE = "TextInputBlock"
    INPUT = True
    label: _Param[str] = _Param("label")
    default: _Param[str] = _Param("value")


class ImageInputBlock(Block):
    TYPE = "ImageInputBlock"
    INPUT = True
    label: _Param[str] = _Param("label")
    default: _Param[str] = _Param("value")


class MultipickBlock(Block):
    TYPE = "MultipickBlock"
    INPUT = True
    label: _Param[str] = _Param("label")
    default: _Param[str] = _Param("value")
    options: _Param[list[str]] = _Param("options")
    randomize: _Param[bool] = _Param("randomize")


class GPTBlock(Block):
    """The text (LLM) block."""

    TYPE = "GPTBlock"
    model: _Param[str] = _Param("model")
    prompt: _Param[str] = _Param("prompt")
    system_prompt: _Param[str] = _Param("systemPrompt")
    max_tokens: _Param[int] = _Param("maxTokens")
    temperature: _Param[float] = _Param("temperature")
    json_mode: _Param[bool] = _Param("jsonMode")
    api: _Param[str] = _Param("api")


class GlifBlock(Block):
    """Runs another glif inside this one."""

    TYPE = "GlifBlock"
    glif_id: _Param[str] = _Param("id")
    input_values: _Param[list[object]] = _Param("inputValues")


class ComfyBlock(Block):
    TYPE = "ComfyBlock"
    workflow: _Param[str] = _Param("value")
    seed: _Param[int] = _Param("seed")


class CanvasBlock(Block):
    """Named by the API docs; its params are not documented."""

    TYPE = "CanvasBlock"


class UnknownBlock(Block):
    """Any block type aioglif does not know: kept as it is."""

    def __init__(self, name: str, params: Mapping[str, object] | None = None, *, type: str) -> None:
        super().__init__(name, params, type=type)

    @property
    def is_input(self) -> bool:
        # AudioInputBlock, VideoInputBlock, ...: inputs by the API's naming.
        return self.type.endswith("InputBlock")


KNOWN: dict[str, type[Block]] = {
    cls.TYPE: cls
    for cls in (TextInputBlock, ImageInputBlock, MultipickBlock, GPTBlock, GlifBlock, ComfyBlock, CanvasBlock)
}


def block_from_node(node: Node) -> Block:
    cls = KNOWN.get(node.type)
    if cls is None:
        return UnknownBlock(node.name, node.params, type=node.type)
    return cls(node.name, node.params)


def blocks(graph: Graph) -> list[Block]:
    """The graph's nodes as typed blocks, in order."""
    return [block_from_node(n) for n in graph.nodes]


def graph_from_blocks(items: list[Block]) -> Graph:
    return Graph(nodes=[b.to_node() for b in items])


def is_input(block: Block) -> bool:
    return block.INPUT or (isinstance(block, UnknownBlock) and block.is_input)
