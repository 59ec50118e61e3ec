"""Typed graphs: round trips (property-based), every validation rule, inspection, the builder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aioglif import Glif, Graph, Node
from aioglif.graph import (
    GlifBlock,
    GPTBlock,
    GraphBuilder,
    GraphError,
    MultipickBlock,
    TextInputBlock,
    UnknownBlock,
    blocks,
    dependencies,
    graph_from_blocks,
    inputs,
    nested_glifs,
    output_block,
    validate,
)
from aioglif.graph._blocks import KNOWN

SAMPLES = Path(__file__).parent / "samples"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
node_types = st.sampled_from(sorted(KNOWN)) | st.text(min_size=1, max_size=16)
nodes = st.fixed_dictionaries(
    {
        "name": st.text(max_size=12),
        "type": node_types,
        "params": st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    }
)
graphs = st.fixed_dictionaries({"nodes": st.lists(nodes, max_size=8)})


@settings(max_examples=200, deadline=None)
@given(graphs)
def test_decode_then_encode_is_the_identity(raw: dict[str, Any]) -> None:
    body = json.dumps(raw).encode()
    graph = msgspec.json.decode(body, type=Graph)
    typed = blocks(graph)
    for block, node in zip(typed, raw["nodes"], strict=True):
        assert block.type == node["type"]
        assert isinstance(block, KNOWN.get(node["type"], UnknownBlock))
    again = graph_from_blocks(typed)
    assert json.loads(msgspec.json.encode(again)) == raw


@settings(max_examples=100, deadline=None)
@given(graphs)
def test_validation_never_crashes(raw: dict[str, Any]) -> None:
    problems = validate(msgspec.convert(raw, Graph))
    assert all(p.code and p.message for p in problems)


names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(st.lists(names, min_size=1, max_size=6, unique=True), st.integers(0, 2**16))
def test_built_graphs_are_valid_and_round_trip(labels: list[str], seed: int) -> None:
    b = GraphBuilder()
    made = [b.text_input(labels[0], label="first", default=str(seed))]
    for name in labels[1:]:
        made.append(
            b.llm(name, prompt=f"use {made[-1]} and {made[0]}", max_tokens=1 + seed % 500, temperature=0.5)
        )
    graph = b.build()
    assert validate(graph) == []
    assert blocks(msgspec.json.decode(msgspec.json.encode(graph), type=Graph)) == made


# --- the samples ---------------------------------------------------------------------------


def test_sample_graphs_decode_into_typed_blocks() -> None:
    (glif,) = msgspec.json.decode((SAMPLES / "glifs-by-id.json").read_bytes(), type=list[Glif])
    assert glif.data is not None
    typed = blocks(glif.data)
    assert [type(b) for b in typed] == [TextInputBlock, GlifBlock, GlifBlock, GPTBlock]
    gpt = typed[3]
    assert isinstance(gpt, GPTBlock)
    assert (gpt.model, gpt.max_tokens, gpt.temperature, gpt.api) == ("gpt-4", 500, 0.9, "chat")
    assert validate(glif.data) == []
    assert inputs(glif.data)[0].name == "username"
    assert inputs(glif.data)[0].default == "harrystyles"
    assert nested_glifs(glif.data) == ["clj359oq70000le08nog0a0sb", "clpmk3e3x000xqrpfuxrjq6gl"]
    out = output_block(glif.data)
    assert out is not None and out.name == "text1"
    assert dependencies(glif.data)["text1"] == {"ego", "radmilk", "username"}
    request = json.loads((SAMPLES / "seed-create-glif-request.json").read_bytes())
    seed_graph = msgspec.convert(request["graph"], Graph)
    assert [type(b) for b in blocks(seed_graph)] == [TextInputBlock, GPTBlock]
    assert validate(seed_graph) == []


# --- every rule, failing and passing -------------------------------------------------------


def g(*nodes: tuple[str, str, dict[str, Any]]) -> Graph:
    return Graph(nodes=[Node(name=n, type=t, params=p) for n, t, p in nodes])


TEXT = ("q", "TextInputBlock", {"label": "Q"})


def codes(graph: Graph, *, grade: str | None = None) -> list[tuple[str, str | None, str | None]]:
    return [(p.code, p.block, p.param) for p in validate(graph) if grade in (None, p.severity)]


@pytest.mark.parametrize(
    ("bad", "good", "problem"),
    [
        (g(("a b", "TextInputBlock", {})), g(("a_b1", "TextInputBlock", {})), ("invalid-name", "a b", None)),
        (g(("", "TextInputBlock", {})), g(("x", "TextInputBlock", {})), ("invalid-name", "", None)),
        (g(TEXT, TEXT), g(TEXT, ("r", "TextInputBlock", {})), ("duplicate-name", "q", None)),
        (g(("t", "", {})), g(("t", "SomethingNewBlock", {})), ("missing-type", "t", None)),
        (
            g(("a", "GPTBlock", {"prompt": "{nope}"})),
            g(TEXT, ("a", "GPTBlock", {"prompt": "{q}"})),
            ("unknown-reference", "a", "prompt"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": "{q}"}), TEXT),
            g(TEXT, ("a", "GPTBlock", {"prompt": "{q}"})),
            ("forward-reference", "a", "prompt"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": "{a}"})),
            g(("a", "GPTBlock", {"prompt": "no reference"})),
            ("self-reference", "a", "prompt"),
        ),
        (g(("a", "GPTBlock", {})), g(("a", "GPTBlock", {"prompt": ""})), ("missing-param", "a", "prompt")),
        (g(("a", "GlifBlock", {})), g(("a", "GlifBlock", {"id": "cl1"})), ("missing-param", "a", "id")),
        (
            g(("m", "MultipickBlock", {})),
            g(("m", "MultipickBlock", {"options": ["x"]})),
            ("missing-param", "m", "options"),
        ),
        (
            g(("c", "ComfyBlock", {})),
            g(("c", "ComfyBlock", {"value": "{}", "seed": None})),
            ("missing-param", "c", "value"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": "", "maxTokens": "500"})),
            g(("a", "GPTBlock", {"prompt": "", "maxTokens": 500})),
            ("invalid-param", "a", "maxTokens"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": "", "maxTokens": True})),
            g(("a", "GPTBlock", {"prompt": "", "maxTokens": 1})),
            ("invalid-param", "a", "maxTokens"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": "", "temperature": 2.5})),
            g(("a", "GPTBlock", {"prompt": "", "temperature": 0.7})),
            ("invalid-param", "a", "temperature"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": "", "temperature": "hot"})),
            g(("a", "GPTBlock", {"prompt": "", "temperature": 0})),
            ("invalid-param", "a", "temperature"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": "", "jsonMode": "yes"})),
            g(("a", "GPTBlock", {"prompt": "", "jsonMode": False})),
            ("invalid-param", "a", "jsonMode"),
        ),
        (
            g(("a", "GPTBlock", {"prompt": 3})),
            g(("a", "GPTBlock", {"prompt": "3"})),
            ("invalid-param", "a", "prompt"),
        ),
        (
            g(("m", "MultipickBlock", {"options": []})),
            g(("m", "MultipickBlock", {"options": ["a", "b"]})),
            ("invalid-param", "m", "options"),
        ),
        (
            g(("c", "ComfyBlock", {"value": "", "seed": "1"})),
            g(("c", "ComfyBlock", {"value": "", "seed": 1})),
            ("invalid-param", "c", "seed"),
        ),
        (
            g(("a", "GlifBlock", {"id": " "})),
            g(("a", "GlifBlock", {"id": "clx"})),
            ("invalid-param", "a", "id"),
        ),
    ],
)
def test_each_rule_fails_and_passes(
    bad: Graph, good: Graph, problem: tuple[str, str | None, str | None]
) -> None:
    assert problem in codes(bad)
    assert codes(good, grade="error") == []


def test_cycles_are_reported_once_with_their_path() -> None:
    graph = g(("a", "GPTBlock", {"prompt": "{b}"}), ("b", "GPTBlock", {"prompt": "{a}"}))
    cycles = [p for p in validate(graph) if p.code == "cycle"]
    assert len(cycles) == 1
    assert "a -> b -> a" in cycles[0].message
    assert (
        codes(g(TEXT, ("a", "GPTBlock", {"prompt": "{q}"}), ("b", "GPTBlock", {"prompt": "{a} {q}"}))) == []
    )


def test_references_inside_nested_params_are_found() -> None:
    graph = g(("x", "HTMLBlock", {"parts": [{"text": "{ghost}"}]}))
    assert codes(graph, grade="error") == [("unknown-reference", "x", "parts")]


def test_every_problem_is_reported_at_once() -> None:
    graph = g(("bad name", "GPTBlock", {"maxTokens": 0}), ("b", "GlifBlock", {}))
    found = {p[0] for p in codes(graph)}
    assert found == {"invalid-name", "missing-param", "invalid-param"}
    assert len(validate(graph)) == 4
    assert {p[0] for p in codes(graph, grade="warning")} == {"invalid-param"}  # an optional one


# --- blocks and the builder ----------------------------------------------------------------


def test_typed_params_read_and_write_the_same_mapping() -> None:
    block = GPTBlock("a", {"prompt": "hi", "futureParam": [1, 2]})
    block.max_tokens = 100
    block.temperature = None
    assert block.params == {"prompt": "hi", "futureParam": [1, 2], "maxTokens": 100}
    assert block.to_node() == Node(name="a", type="GPTBlock", params=block.params)
    assert MultipickBlock("m", {"options": ["x"]}).options == ["x"]


def test_builder_reads_naturally_and_refuses_a_bad_graph() -> None:
    b = GraphBuilder()
    topic = b.text_input("topic", label="Topic", default="otters")
    b.llm("poem", prompt=f"Write a haiku about {topic}.", model="gpt-4o", max_tokens=200)
    graph = b.build()
    assert graph.nodes[1].params == {
        "prompt": "Write a haiku about {topic}.",
        "model": "gpt-4o",
        "maxTokens": 200,
    }
    bad = GraphBuilder()
    bad.llm("x", prompt="{missing}", max_tokens=0)
    with pytest.raises(GraphError) as info:
        bad.build()
    assert {p.code for p in info.value.problems} == {"unknown-reference"}
    assert {p.code for p in info.value.warnings} == {"invalid-param"}  # maxTokens 0: not known to break
    assert isinstance(info.value, ValueError)
    assert bad.build(validate=False).nodes[0].name == "x"
    unknown = GraphBuilder()
    unknown.block("AudioInputBlock", "voice", label="Say it")
    assert inputs(unknown.build())[0].type == "AudioInputBlock"
