"""Graphs and run inputs as the evidence has them: the client is never stricter than the API.

The fake server's rules (``aioglif.testing._evidence``) are written from the evidence, not
imported from the client, so each test below would fail if the client refused what the API
takes, or if the fake merely agreed with the client.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

import aioglif as g
from aioglif.graph import GraphError, errors, validate, warnings
from aioglif.testing import FakeData, FakeGlifServer

pytestmark = pytest.mark.anyio

SAMPLES = Path(__file__).parent / "samples"


def sample_graph() -> dict[str, Any]:
    (glif,) = msgspec.json.decode((SAMPLES / "glifs-by-id.json").read_bytes())
    return glif["data"]  # type: ignore[no-any-return]


def as_read_from_the_api() -> dict[str, Any]:
    """The sample graph with what real graphs carry: ``label: null``, params and block types
    nobody documented, a null optional param."""
    graph = copy.deepcopy(sample_graph())
    graph["nodes"][0]["params"]["label"] = None
    graph["nodes"][3]["params"]["frequencyPenalty"] = 0.5
    graph["nodes"][3]["params"]["systemPrompt"] = None
    graph["nodes"].insert(1, {"name": "voice", "type": "AudioInputBlock", "params": {"label": None}})
    graph["nodes"].append({"name": "page", "type": "HTMLBlock", "params": {"html": "<p>{text1}</p>"}})
    return graph


def test_what_the_api_tolerates_is_a_warning_never_an_error() -> None:
    problems = validate(msgspec.convert(as_read_from_the_api(), g.Graph))
    assert errors(problems) == []
    found = {(p.code, p.block, p.param) for p in warnings(problems)}
    assert found == {
        ("null-param", "username", "label"),
        ("null-param", "text1", "systemPrompt"),
        ("unknown-param", "text1", "frequencyPenalty"),
        ("unknown-type", "voice", None),
        ("unknown-type", "page", None),
    }


async def test_a_graph_read_from_the_api_is_created_as_it_is(
    client: g.GlifClient, server: FakeGlifServer
) -> None:
    graph = as_read_from_the_api()
    created = await client.create_glif("from the api", graph=graph)
    assert created.data is not None and msgspec.to_builtins(created.data) == graph
    fetched = await client.get_glif(created.id)
    assert fetched.data == created.data
    # ... and runs: its inputs are the text input and the audio input.
    result = await client.run_glif(created.id, {"username": "ada", "voice": "https://a.example/v.mp3"})
    assert result.inputs == {"username": "ada", "voice": "https://a.example/v.mp3"}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda n: n[3]["params"].update(prompt="{nobody}"), "unknown-reference"),
        (lambda n: n[0]["params"].update(value="{text1}"), "forward-reference"),
        (lambda n: n.append(dict(n[0])), "duplicate-name"),
        (lambda n: n[1].update(name="ego-2"), "invalid-name"),
        (lambda n: n[3]["params"].pop("prompt"), "missing-param"),
        (lambda n: n[3]["params"].update(prompt=None), "missing-param"),
        (lambda n: n[1]["params"].update(id=""), "invalid-param"),
    ],
)
async def test_what_would_break_a_run_is_refused_before_sending(
    client: g.GlifClient, server: FakeGlifServer, change: Any, code: str
) -> None:
    graph = copy.deepcopy(sample_graph())
    change(graph["nodes"])
    before = len(server.requests)
    with pytest.raises(GraphError) as info:
        await client.create_glif("broken", graph=graph)
    assert code in {p.code for p in info.value.problems}
    assert len(server.requests) == before


async def test_the_fake_judges_graphs_by_the_evidence_not_by_the_client(client: g.GlifClient) -> None:
    # A forward reference breaks a run (the client says so), but nothing public says the API
    # refuses to store it: unchecked, the fake accepts it. Were the fake using the client's
    # rules, it would refuse.
    graph = copy.deepcopy(sample_graph())
    graph["nodes"][0]["params"]["value"] = "{text1}"
    assert any(p.code == "forward-reference" for p in errors(validate(msgspec.convert(graph, g.Graph))))
    created = await client.create_glif("stored anyway", graph=graph, validate=False)
    assert created.data is not None
    # What the evidence does rule out (names, duplicates), the fake refuses in its own words.
    graph["nodes"].append(dict(graph["nodes"][0]))
    with pytest.raises(g.APIStatusError, match="used twice"):
        await client.create_glif("duplicate", graph=graph, validate=False)


def test_every_generated_graph_has_no_errors() -> None:
    data = FakeData.generate(seed=3, users=2, glifs=150, runs=0, spheres=0)
    for glif in data.glifs:
        graph = msgspec.convert(glif["data"], g.Graph)
        assert errors(validate(graph)) == [], glif["data"]


# --- run inputs ------------------------------------------------------------------------------

MEDIA_INPUTS = [
    {"name": "words", "type": "TextInputBlock", "params": {"label": None, "value": "hello"}},
    {"name": "picture", "type": "ImageInputBlock", "params": {"value": ""}},
    {"name": "sound", "type": "AudioInputBlock", "params": {}},
    {"name": "clip", "type": "VideoInputBlock", "params": {"label": "Clip"}},
    {"name": "pick", "type": "MultipickBlock", "params": {"options": ["a", "b"], "value": "a"}},
    {"name": "out", "type": "GPTBlock", "params": {"prompt": "{words} {picture} {sound} {clip} {pick}"}},
]
NAMES = ["words", "picture", "sound", "clip", "pick"]
DEFAULTS = {"words": "hello", "picture": "", "sound": "", "clip": "", "pick": "a"}


@pytest.fixture
async def media(server: FakeGlifServer) -> str:
    glif = server.data.add_glif(graph=copy.deepcopy(MEDIA_INPUTS))
    return str(glif["id"])


async def post(server: FakeGlifServer, body: object, path: str = "", query: str = "") -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.simple_api_url}{path}{query}",
            json=body,
            headers={"Authorization": f"Bearer {server.token}"},
        ) as response,
    ):
        assert response.status == 200
        return await response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"inputs": {"words": "x", "clip": "c"}}, {"words": "x", "clip": "c"}),
        ({"inputs": ["x", "p", "s"]}, {"words": "x", "picture": "p", "sound": "s"}),
        ({"input": {"sound": "s"}}, {"sound": "s"}),  # the 2023 docs' singular key
        ({"input": "x"}, {"words": "x"}),  # one positional value
        ({"words": "x", "pick": "b"}, {"words": "x", "pick": "b"}),  # names as top-level keys [SEED]
        ({"inputs": {"words": "x", "nobody": "?"}}, {"words": "x"}),  # an unknown name is ignored
        ({"inputs": ["1", "2", "3", "4", "5", "6", "7"]}, dict(zip(NAMES, "12345", strict=True))),
    ],
)
async def test_the_documented_input_forms(
    server: FakeGlifServer, media: str, form: dict[str, Any], expected: dict[str, str]
) -> None:
    answer = await post(server, {"id": media, **form})
    assert "error" not in answer, answer
    assert answer["inputs"] == {**DEFAULTS, **expected}
    by_path = await post(server, form, path=f"/{media}")  # the id in the path instead
    assert by_path["inputs"] == answer["inputs"]


async def test_the_official_clients_live_test_passes(server: FakeGlifServer, media: str) -> None:
    # glif-client-python's live test: an unknown name, and two positional values.
    assert "error" not in await post(server, {"id": media, "inputs": {"unknown_name": "x"}})
    assert "error" not in await post(server, {"id": media, "inputs": ["one", "two"]})


async def test_strict_inputs_and_strict_runs(server: FakeGlifServer, media: str) -> None:
    server.strict_inputs = True
    answer = await post(server, {"id": media, "inputs": {"words": "x", "nobody": "?"}})
    assert "nobody" in answer["error"]
    answer = await post(server, {"id": media, "inputs": list("1234567")})
    assert "Too many" in answer["error"]
    server.strict_inputs = False
    answer = await post(server, {"id": media, "inputs": {"words": "x"}}, query="?strict=1")
    assert "picture" in answer["error"]  # ?strict=1: missing inputs are not defaulted
    answer = await post(server, {"id": media, "inputs": {"words": 5}})
    assert "strings" in answer["error"]


async def test_the_client_sends_unknown_names_through(client: g.GlifClient, media: str) -> None:
    result = await client.run_glif(media, {"words": "x", "typo": "y"})
    assert result.inputs is not None and result.inputs["words"] == "x" and "typo" not in result.inputs


async def test_the_dispatcher_refuses_unknown_names_unless_told(client: g.GlifClient, media: str) -> None:
    from aioglif.dispatch import Job, RejectedJob, dispatch

    jobs = [Job(media, {"wrods": "x"}, key="typo"), Job(media, list("1234567"), key="surplus")]
    async with dispatch(client, jobs) as results:
        refused = {r.key: r.error async for r in results}
    assert all(isinstance(e, RejectedJob) for e in refused.values())
    assert "allow_unknown_inputs" in str(refused["typo"])
    async with dispatch(client, jobs, allow_unknown_inputs=True) as results:
        sent = {r.key: r async for r in results}
    assert all(r.ok for r in sent.values())
    # What the opt-out costs: the API ignored the typo and ran on the default.
    typo = sent["typo"].result
    assert typo is not None and typo.inputs is not None and typo.inputs["words"] == "hello"


def test_the_batch_refuses_a_csv_column_that_is_no_input() -> None:
    from aioglif._batch import _check_row

    row = {"words": "a", "wrods": "b"}
    with pytest.raises(ValueError, match=r"wrods.*--allow-unknown-inputs"):
        _check_row(Path("in.csv"), 1, row, NAMES, strict=False, allow_unknown=False)
    _check_row(Path("in.csv"), 1, row, NAMES, strict=False, allow_unknown=True)
