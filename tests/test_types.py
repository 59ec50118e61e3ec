"""Types users can lean on: required where every source agrees, typed nodes and credits,
filtered runs made visible, public result types, and a closed client that is a GlifError."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

import aioglif as g
from aioglif import models as m
from aioglif._protocol import decode
from aioglif.crawl import Crawl, Scope
from aioglif.dispatch import Dispatch, Job, dispatch
from aioglif.testing import FakeGlifServer

from .conftest import make_client, sqlite

SAMPLES = Path(__file__).parent / "samples"
GLIF = (
    b'{"id": "g", "name": "n", "createdAt": "2024-01-01T00:00:00.000Z",'
    b' "updatedAt": "2024-01-01T00:00:00.000Z", "userId": "u"}'
)
PLACEHOLDER = (
    "https://res.cloudinary.com/dzkwltgyd/image/upload/v1690807779/nsfw_placeholders/"
    "cartoon_of_shocked_hamster_shocked_facial_expression_whimsical_cartoon__tyyjgi.jpg"
)


@pytest.mark.parametrize("field", ["id", "name", "createdAt", "updatedAt", "userId"])
def test_a_glif_needs_what_every_source_has(field: str) -> None:
    body = msgspec.json.encode({k: v for k, v in msgspec.json.decode(GLIF).items() if k != field})
    with pytest.raises(g.ResponseDecodeError) as info:
        decode(m.GLIF.one.decode, body, method="GET", url="u")
    assert field in str(info.value)


def test_required_fields_are_typed_as_present() -> None:
    glif = msgspec.json.decode(GLIF, type=m.Glif)
    # Without the required fields these would be Optional and need a check first.
    assert glif.name.upper() == "N" and glif.user_id == "u" and glif.created_at.year == 2024


def test_every_sample_body_decodes_including_the_create_request_graph() -> None:
    request = msgspec.json.decode((SAMPLES / "seed-create-glif-request.json").read_bytes())
    graph = msgspec.convert(request["graph"], m.Graph)
    assert [n.name for n in graph.nodes] == ["query", "result"]
    (glif,) = msgspec.json.decode((SAMPLES / "glifs-by-id.json").read_bytes(), type=list[m.Glif])
    created = msgspec.json.decode((SAMPLES / "seed-create-glif-response.json").read_bytes(), type=m.Glif)
    assert glif.user_id and created.user_id and created.name == "API test glif 2"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"12.5", "12.5"), (b'"12.50"', "12.50"), (b"3", "3"), (b"0.1", "0.1"), (b'"2.1000875"', "2.1000875")],
)
def test_credits_are_exact_decimals_from_a_number_or_a_string(raw: bytes, expected: str) -> None:
    body = (
        b'{"user": {"id": "u"}, "credits": {"remaining": ' + raw + b', "limit": ' + raw + b', "label": "d"}}'
    )
    me = msgspec.json.decode(body, type=m.Me)
    assert me.credits is not None
    assert me.credits.remaining == Decimal(expected) and isinstance(me.credits.remaining, Decimal)
    assert me.credits.limit == Decimal(expected)


def test_run_nodes_are_structs_whatever_their_shape() -> None:
    sample = msgspec.json.decode(
        (SAMPLES / "simple-api-run.docs-example-2025.json").read_bytes(), type=m.RunResult
    )
    assert sample.nodes == [m.RunNode()]  # the docs' placeholder node: nothing known, nothing lost
    body = b'{"output": "x", "nodes": [{"name": "a", "type": "TextInputBlock", "output": "hi"},'
    body += b' {"name": "b", "type": "JSONBlock", "output": {"k": [1, 2]}}, {"name": "c"}]}'
    result = msgspec.json.decode(body, type=m.RunResult)
    assert result.nodes is not None
    assert [(n.name, n.type) for n in result.nodes] == [
        ("a", "TextInputBlock"),
        ("b", "JSONBlock"),
        ("c", None),
    ]
    assert result.nodes[1].output == {"k": [1, 2]}


def test_nsfw_placeholders_are_recognised_in_outputs() -> None:
    other = PLACEHOLDER.replace("v1690807779", "v1700000000").replace("tyyjgi", "abcdef")
    for output in (PLACEHOLDER, f"<{PLACEHOLDER}>", other):
        assert m.RunResult(output=output).nsfw_filtered, output
        assert m.RunResult(output_full=m.OutputFull(type="IMAGE", value=output)).nsfw_filtered
    ordinary = "https://res.cloudinary.com/dzkwltgyd/image/upload/v1/glif-run-outputs/x.png"
    for output in (ordinary, "a story about nsfw_placeholders/ in text", "", None):
        assert not m.RunResult(output=output).nsfw_filtered, output
    run = msgspec.json.decode(b'{"id": "r", "output": "' + PLACEHOLDER.encode() + b'"}', type=m.Run)
    assert run.nsfw_filtered
    assert len(m.NSFW_PLACEHOLDER_URLS) == 2 and all(
        m.is_nsfw_placeholder(u) for u in m.NSFW_PLACEHOLDER_URLS
    )


@pytest.mark.anyio
async def test_a_client_used_outside_its_lifetime_raises_a_glif_error(server: FakeGlifServer) -> None:
    client = make_client(server)
    async with client:
        pass
    for call in (client.get_glif("x"), client.me(), client.run_glif("x")):
        with pytest.raises(g.GlifError, match="closed"):
            await call
    with pytest.raises(g.ClientClosedError):
        await client.__aenter__()
    assert issubclass(g.ClientClosedError, RuntimeError)  # what it was before: old handlers still catch it
    assert server.requests == []


@pytest.mark.anyio
async def test_public_types_for_crawls_and_dispatches(server: FakeGlifServer, tmp_path: Path) -> None:
    async with make_client(server) as client:
        crawl = Crawl(client, Scope(glifs=(server.data.public_glifs[0]["id"],)), str(tmp_path / "x.sqlite"))
        assert crawl.path == tmp_path / "x.sqlite"
        async with crawl:
            assert await crawl.run() == "complete"
        batch = dispatch(client, [Job("no-such-glif", key="a")])
        assert isinstance(batch, Dispatch)
        async with batch as results:
            out = [r async for r in results]
    assert [r.key for r in out] == ["a"] and not out[0].ok


@pytest.mark.anyio
async def test_the_crawl_marks_filtered_runs(server: FakeGlifServer, tmp_path: Path) -> None:
    glif = server.data.public_glifs[0]
    blocked = server.data.add_run(glif["id"], output=PLACEHOLDER)
    shown = server.data.add_run(glif["id"], output="https://res.cloudinary.com/x/glif-run-outputs/y.png")
    out = tmp_path / "c.sqlite"
    async with make_client(server) as client, Crawl(client, Scope(glifs=(glif["id"],), runs=True), out) as c:
        assert await c.run() == "complete"
    with sqlite(out) as db:
        flags = dict(db.execute("SELECT id, nsfw_filtered FROM runs").fetchall())
    assert flags[blocked["id"]] == 1 and flags[shown["id"]] == 0
    assert sum(flags.values()) == 1


def test_a_crawl_file_of_schema_1_gains_the_column(tmp_path: Path) -> None:
    from aioglif.crawl import Store

    path = tmp_path / "old.sqlite"
    Store(path).close()
    with sqlite(path) as db:  # what schema 1 wrote: no nsfw_filtered column
        db.execute("ALTER TABLE runs DROP COLUMN nsfw_filtered")
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
        for run_id, output in (("r1", PLACEHOLDER), ("r2", "plain text"), ("r3", None)):
            body = msgspec.json.encode({"id": run_id, "output": output}).decode()
            db.execute("INSERT INTO runs (id, json, harvested_at) VALUES (?, ?, 0)", (run_id, body))
    Store(path).close()
    with sqlite(path) as db:
        assert dict(db.execute("SELECT id, nsfw_filtered FROM runs")) == {"r1": 1, "r2": 0, "r3": 0}
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (
            str(Store.SCHEMA_VERSION),
        )
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    assert columns[-1] == "nsfw_filtered"


def test_no_private_class_in_a_public_signature() -> None:
    import importlib
    import inspect
    import re
    import typing

    found = []
    public = (
        "aioglif",
        "aioglif.crawl",
        "aioglif.dispatch",
        "aioglif.graph",
        "aioglif.testing",
        "aioglif.wire",
    )
    for name in public:
        module = importlib.import_module(name)
        for public in module.__all__:
            obj = getattr(module, public)
            members = [(public, obj)] if inspect.isfunction(obj) else []
            if inspect.isclass(obj):
                # What a class inherits from our own bases is its public API too.
                ours = [c for c in obj.__mro__ if c.__module__.startswith("aioglif")]
                for attr, value in [kv for c in ours for kv in vars(c).items()]:
                    fn = value.fget if isinstance(value, property) else value
                    if inspect.isfunction(fn) and (
                        not attr.startswith("_") or attr in ("__init__", "__aenter__")
                    ):
                        members.append((f"{public}.{attr}", fn))
            for where, fn in members:
                try:
                    hints = [repr(v) for v in typing.get_type_hints(fn).values()]
                except NameError:  # an annotation only a type checker resolves
                    hints = [str(v) for v in fn.__annotations__.values()]
                found += [(where, m) for h in hints for m in re.findall(r"(?:^|[\s\[.,|'(])(_[A-Z]\w*)", h)]
    assert found == []
    assert re.findall(r"(?:^|[\s\[.,|'(])(_[A-Z]\w*)", "<class 'aioglif.dispatch._Dispatch'>") == [
        "_Dispatch"
    ]
