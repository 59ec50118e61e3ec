"""The fake server answers what Glif's official clients accept, and serves what they call.

Glif's official MCP client (npm) validated real responses with zod schemas, and its history
loosened them where real answers failed: the strongest evidence there is of the API's shapes.
It and the official Python client (PyPI) are installed at test time into a temporary folder,
once per session; nothing of theirs is in this repository. The MCP client is driven by
``official_mcp.mjs``, which sends its requests to the fake server and nowhere else.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from aioglif.testing import PROFILES, Behaviour, FakeData, FakeGlifServer, Faults

pytestmark = pytest.mark.anyio

MCP_PACKAGE = "@glifxyz/glif-mcp-server@0.9.9"
PY_PACKAGE = "glif-client==0.1.2"
SCRIPT = Path(__file__).with_name("official_mcp.mjs")
SAMPLES = Path(__file__).with_name("samples")
INSTALL_TIMEOUT = 300  # seconds; an install that hangs fails the suite instead of stalling it


@dataclass(frozen=True)
class Exception_:
    """A place where the official schema is stricter than the evidence, with that evidence."""

    schema: str
    path: tuple[str | int, ...]  # the zod issue path, list indexes left out
    evidence: str
    seen_in: str = "sample"  # what shows it: a public sample body, or a variant of the fake


# Each listed once; a test below checks that every one of them is still needed.
EXCEPTIONS = [
    Exception_(
        "GlifSchema",
        ("publishedAt",),
        "required in the schema; absent from the docs' real glif of 2023 (samples/glifs-by-id.json)",
    ),
    Exception_(
        "GlifSchema",
        ("averageDuration",),
        "required in the schema; absent from the docs' real glif of 2023 (samples/glifs-by-id.json)",
    ),
    Exception_(
        "GlifRunResponseSchema",
        ("id",),
        "the 2023 Simple API answered {input, output}: samples/simple-api-run.docs-example-2023-legacy.json",
    ),
    Exception_(
        "GlifRunResponseSchema",
        ("inputs",),
        "the 2023 Simple API answered {input, output}: samples/simple-api-run.docs-example-2023-legacy.json",
    ),
    Exception_(
        "GlifRunResponseSchema",
        ("output",),
        "a string in the schema; Glif's own Discord bot takes the first element when output is an"
        " array (discord-welcome-bot src/messages/glifs.ts): the fake's Faults(run_output='list')",
        seen_in="fake",
    ),
]

# Public samples and the schema each is an answer of. Docs examples with placeholders in place
# of values ("<...>", {"...": ""}) are not evidence of a shape and are left out.
SAMPLE_SCHEMAS = {
    "glifs-by-id.json": ("GlifSchema", True),
    "seed-create-glif-response.json": ("GlifSchema", False),
    "simple-api-run-text-output.json": ("GlifRunResponseSchema", False),
    "simple-api-run-text-output-2.json": ("GlifRunResponseSchema", False),
    "simple-api-run.docs-example-2023-legacy.json": ("GlifRunResponseSchema", False),
}


def _input_names(glif: dict[str, Any]) -> list[str]:
    kinds = ("TextInputBlock", "MultipickBlock", "ImageInputBlock")
    return [n["name"] for n in glif["data"]["nodes"] if n["type"] in kinds]


def _excused(schema: str, issue: dict[str, Any]) -> Exception_ | None:
    path = tuple(p for p in issue["path"] if not isinstance(p, int))
    return next((x for x in EXCEPTIONS if x.schema == schema and x.path == path), None)


# --- installing the official clients -----------------------------------------------------------


@pytest.fixture(scope="session")
def mcp_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official MCP client's published package, installed from the npm registry."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed: the official MCP client cannot be installed")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    if int(version.lstrip("v").split(".")[0] or 0) < 18:
        pytest.skip(f"node {version.strip()} is older than 18: the driver needs its fetch")
    folder = tmp_path_factory.mktemp("official-mcp")
    command = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--ignore-scripts"]
    command += [
        "--no-package-lock",
        "--no-update-notifier",
        "--prefer-offline",
        "--loglevel=error",
        MCP_PACKAGE,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"npm install {MCP_PACKAGE} failed:\n{done.stderr[-3000:]}")
    return folder / "node_modules" / "@glifxyz" / "glif-mcp-server"


@pytest.fixture(scope="session")
def glif_client_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The official Python client, installed from PyPI into a folder of its own."""
    folder = tmp_path_factory.mktemp("official-python")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-deps", "--target", str(folder), PY_PACKAGE]  # its one import is aiohttp
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"pip install {PY_PACKAGE} failed:\n{done.stderr[-3000:]}")
    sys.path.insert(0, str(folder))
    try:
        import glif_client.client

        yield glif_client.client
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == "glif_client" or n.startswith("glif_client.")]:
            del sys.modules[name]


async def _node(package: Path, mode: str, payload: Any) -> Any:
    done = await anyio.run_process(
        ["node", str(SCRIPT), mode, str(package)], input=json.dumps(payload).encode(), check=False
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return json.loads(done.stdout)


# --- the fake's answers ----------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeGlifServer]:
    data = FakeData.generate(seed=11, users=6, glifs=60, runs=300, spheres=2, bots=10)
    async with FakeGlifServer(data) as server:
        yield server


async def _answers(server: FakeGlifServer) -> list[dict[str, Any]]:
    """Every kind of answer of the fake, each with the official schema that validated it."""
    d = server.data
    me = d.users[server.tokens[server.token]]  # type: ignore[index]
    glif, run, bot = d.public_glifs[0], d.public_runs[0], d.bots[0]
    sphere = d.spheres[0]
    draft = d.add_glif(me["id"], published=False)
    by_type: dict[str, str] = {}
    for g in d.public_glifs:
        by_type.setdefault(g.get("outputType") or "TEXT", g["id"])
    for output_type in ("TEXT", "IMAGE", "VIDEO", "AUDIO", "HTML", "JSON"):
        if output_type not in by_type:  # every output type the official client knows, always
            made = d.add_glif(me["id"])
            made["outputType"] = output_type
            by_type[output_type] = made["id"]
    d.reindex()
    gets: list[tuple[str, str, bool]] = [
        ("/api/glifs", "GlifSchema", True),
        ("/api/glifs?featured=1", "GlifSchema", True),
        (f"/api/glifs?username={glif['user']['username']}", "GlifSchema", True),
        (f"/api/glifs?userId={glif['userId']}", "GlifSchema", True),
        (f"/api/glifs?q={glif['name'].split()[0]}", "GlifSchema", True),
        ("/api/glifs?includes=spells.data&limit=100", "GlifSchema", True),
        (f"/api/glifs?id={glif['id']}", "GlifSchema", True),
        (f"/api/glifs?id={draft['id']}", "GlifSchema", True),
        (f"/api/spheres?slug={sphere['slug']}&includes=spells.data", "GlifSchema", True),
        ("/api/runs", "GlifRunSchema", True),
        (f"/api/runs?glifId={run['spellId']}", "GlifRunSchema", True),
        (f"/api/runs?spellId={run['spellId']}", "GlifRunSchema", True),
        (f"/api/runs?userId={run['userId']}", "GlifRunSchema", True),
        (f"/api/runs?username={run['user']['username']}", "GlifRunSchema", True),
        (f"/api/runs?id={run['id']}", "GlifRunSchema", True),
        ("/api/me", "MeResponseSchema", False),
        (f"/api/user?id={me['id']}", "UserSchema", False),
        (f"/api/user?username={me['username']}", "UserSchema", False),
        (f"/api/users/{me['id']}", "UserSchema", False),
        ("/api/bots", "BotsListSchema", False),
        *((f"/api/bots?sort={s}", "BotsListSchema", False) for s in ("new", "popular", "featured")),
        (f"/api/bots?searchQuery={bot['name'].split()[1]}", "BotsListSchema", False),
        (f"/api/bots?creator={bot['user']['username']}", "BotsListSchema", False),
        (f"/api/bots?id={bot['id']}", "BotResponseSchema", False),
    ]
    headers = {"Authorization": f"Bearer {server.token}"}
    checks: list[dict[str, Any]] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for path, schema, many in gets:
            async with session.get(server.url + path) as r:
                assert r.status == 200, path
                body = await r.json()
            if path.startswith("/api/spheres"):
                assert body["glifs"], "the sphere has glifs"
                checks.append({"name": path, "schema": "GlifSchema", "many": True, "body": body["glifs"]})
            else:
                assert body, f"{path}: an empty answer would validate trivially"
                checks.append({"name": path, "schema": schema, "many": many, "body": body})
        created = {"name": "made here", "description": "", "graph": {"nodes": glif["data"]["nodes"][:1]}}
        async with session.post(server.api_url + "/glifs", json=created) as r:
            assert r.status == 200
            body = await r.json()
        checks.append({"name": "POST /api/glifs", "schema": "GlifSchema", "many": False, "body": body})
        for output_type, glif_id in sorted(by_type.items()):
            async with session.post(server.simple_api_url, json={"id": glif_id, "inputs": {}}) as r:
                result = await r.json()
            assert "error" not in result, result
            name = f"Simple API run, {output_type}"
            checks.append({"name": name, "schema": "GlifRunResponseSchema", "many": False, "body": result})
            private = d.runs[0]["id"]  # the run just made: private, visible to its owner
            async with session.get(f"{server.api_url}/runs?id={private}") as r:
                body = await r.json()
            name += ", as a run"
            checks.append({"name": name, "schema": "GlifRunSchema", "many": True, "body": body})
    return checks


async def test_every_kind_of_fake_answer_passes_the_official_schemas(
    fake: FakeGlifServer, mcp_package: Path
) -> None:
    checks = await _answers(fake)
    results = await _node(mcp_package, "validate", {"checks": checks})
    schema_of = {c["name"]: c["schema"] for c in checks}
    failures = {
        name: [i for i in r["issues"] if _excused(schema_of[name], i) is None] for name, r in results.items()
    }
    assert {k: v for k, v in failures.items() if v} == {}
    assert len(results) == len(checks) >= 35


async def test_a_sphere_answered_as_a_bare_array_passes_too(mcp_package: Path) -> None:
    data = FakeData.generate(seed=3, users=3, glifs=30, runs=20, spheres=1, bots=0)
    async with (
        FakeGlifServer(data, sphere_shape="array") as server,
        aiohttp.ClientSession() as s,
        s.get(f"{server.api_url}/spheres?slug={data.spheres[0]['slug']}") as r,
    ):
        body = await r.json()
    assert isinstance(body, list) and body
    check = {"name": "s", "schema": "GlifSchema", "many": True, "body": body}
    results = await _node(mcp_package, "validate", {"checks": [check]})
    assert results["s"] == {"ok": True, "issues": []}


async def test_the_official_schemas_still_reject_what_they_rejected(mcp_package: Path) -> None:
    """The validator is live: the nulls and gaps of the old fake are rejected, as reported."""
    user = {"id": "u", "name": "n", "image": None, "username": "u", "website": None, "location": None}
    run = dict.fromkeys(("completedAt", "output", "outputType", "totalDuration"))
    run |= {"id": "r", "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-01T00:00:00.000Z"}
    run |= {"startedAt": "2024-01-01T00:00:00.000Z", "userId": "u", "spellId": "g", "user": user}
    run |= {"outputImageWidth": None, "outputImageHeight": None}
    run |= {"spell": {"id": "g", "name": "n", "output": None, "outputType": None}}
    checks = [
        {"name": "user", "schema": "UserSchema", "many": False, "body": user},
        {"name": "run", "schema": "GlifRunSchema", "many": False, "body": run},
    ]
    results = await _node(mcp_package, "validate", {"checks": checks})
    assert {tuple(i["path"]) for i in results["user"]["issues"]} == {("website",), ("location",)}
    paths = {tuple(i["path"]) for i in results["run"]["issues"]}
    assert ("deletionReason",) in paths


async def test_every_listed_exception_is_needed_by_a_public_sample(mcp_package: Path) -> None:
    checks = []
    for file, (schema, many) in SAMPLE_SCHEMAS.items():
        body = json.loads((SAMPLES / file).read_text())
        checks.append({"name": file, "schema": schema, "many": many, "body": body})
    results = await _node(mcp_package, "validate", {"checks": checks})
    used: set[Exception_] = set()
    for check in checks:
        for issue in results[check["name"]]["issues"]:
            excuse = _excused(check["schema"], issue)
            assert excuse is not None, (check["name"], issue)
            used.add(excuse)
    assert used == {x for x in EXCEPTIONS if x.seen_in == "sample"}


async def test_every_listing_behaviour_of_the_fake_passes(mcp_package: Path) -> None:
    """The fake's behaviour profiles change order, paging and run counts, never a shape the
    official schemas reject."""
    checks = []
    gets = [("/api/glifs", "GlifSchema"), ("/api/glifs?featured=1", "GlifSchema")]
    gets.append(("/api/runs", "GlifRunSchema"))
    data = FakeData.generate(seed=2, users=4, glifs=30, runs=60, spheres=1, bots=0)  # only read
    for name in PROFILES:
        behaviour = Behaviour.named(name)
        first = str(behaviour.glifs.first_page)
        async with FakeGlifServer(data, behaviour=behaviour) as server, aiohttp.ClientSession() as s:
            for path, schema in gets:
                sep = "&" if "?" in path else "?"
                async with s.get(f"{server.url}{path}{sep}page={first}") as r:
                    body = await r.json()
                checks.append({"name": f"{name} {path}", "schema": schema, "many": True, "body": body})
    results = await _node(mcp_package, "validate", {"checks": checks})
    assert {k: v["issues"] for k, v in results.items() if not v["ok"]} == {}
    assert all(c["body"] for c in checks if "featured" not in c["name"])


async def test_simple_api_output_variants_fail_only_where_an_exception_says(mcp_package: Path) -> None:
    checks = []
    for shape in ("string", "list"):
        data = FakeData.generate(seed=2, users=3, glifs=20, runs=10, spheres=0, bots=0)
        glif = data.public_glifs[0]
        async with (
            FakeGlifServer(data, faults=Faults(run_output=shape)) as server,
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.token}"}) as s,
            s.post(server.simple_api_url, json={"id": glif["id"], "inputs": {}}) as r,
        ):
            body = await r.json()
        checks.append({"name": shape, "schema": "GlifRunResponseSchema", "many": False, "body": body})
    results = await _node(mcp_package, "validate", {"checks": checks})
    assert results["string"]["ok"]
    excuses = {_excused("GlifRunResponseSchema", i) for i in results["list"]["issues"]}
    assert excuses and None not in excuses
    assert all(x.seen_in == "fake" for x in excuses if x)


# --- the official clients' own calls ---------------------------------------------------------


async def test_the_official_mcp_client_calls_succeed_against_the_fake(
    fake: FakeGlifServer, mcp_package: Path
) -> None:
    d = fake.data
    me = d.users[fake.tokens[fake.token]]  # type: ignore[index]
    glif, run, bot = d.public_glifs[0], d.public_runs[0], d.bots[0]
    inputs = {n["name"]: "a happy horse" for n in glif["data"]["nodes"] if "Input" in n["type"]}
    calls: list[list[Any]] = [
        ["searchGlifs", {"featured": True}],
        ["searchGlifs", {"q": glif["name"].split()[0]}],
        ["searchGlifs", {"id": glif["id"]}],
        ["getGlifDetails", glif["id"]],
        ["getMyUserInfo"],
        ["getMyRecentRuns"],
        ["getMyGlifs"],
        ["getBots", {"sort": "featured"}],
        ["listBots", {}],
        ["listBots", {"sort": "new", "creator": bot["user"]["username"]}],
        ["searchBots", bot["name"].split()[0]],
        ["loadBot", bot["id"]],
        ["runGlif", glif["id"], inputs],
        ["readResource", f"glif://{glif['id']}"],
        ["runResource", run["id"]],
        ["userResource", me["id"]],
    ]
    payload = {"api": fake.api_url, "simple": fake.simple_api_url, "token": fake.token, "calls": calls}
    answer = await _node(mcp_package, "calls", payload)
    failed = [(r["call"], r["error"]) for r in answer["results"] if not r["ok"]]
    assert failed == []
    values = {r["call"][0] + json.dumps(r["call"][1:]): r["value"] for r in answer["results"]}
    assert values[f'loadBot["{bot["id"]}"]']["id"] == bot["id"]
    ran = next(r["value"] for r in answer["results"] if r["call"][0] == "runGlif")
    assert ran["id"] == glif["id"]
    assert ran["inputs"].items() >= inputs.items()
    assert all(u.startswith(fake.url) for u in answer["urls"])
    served = {r.path for r in fake.requests}
    assert {f"/api/users/{me['id']}", "/api/bots", "/api/me", "/api/runs", "/api/glifs", "/simple"} <= served
    assert all(r.status == 200 for r in fake.requests), [(r.path, r.status) for r in fake.requests]


async def test_the_official_python_client_runs_glifs_on_the_fake(
    fake: FakeGlifServer, glif_client_module: Any
) -> None:
    # A glif with the inputs the client's own tests send: two positional values, or by name.
    nodes = [
        {"name": "prompt", "type": "TextInputBlock", "params": {"label": "prompt", "value": "a cat"}},
        {"name": "other_parameter", "type": "TextInputBlock", "params": {"label": "x", "value": "y"}},
        {"name": "gpt1", "type": "GPTBlock", "params": {"prompt": "{prompt} {other_parameter}"}},
    ]
    glif = fake.data.add_glif(graph=nodes)
    glif["outputType"] = "TEXT"
    client = glif_client_module.GlifClient(api_token=fake.token)
    client.simple_api_url = glif_client_module.URLPath(fake.simple_api_url)
    positional = await client.arun_simple(glif["id"], ["a happy horse", "foobar"])
    named = await client.arun_simple(glif["id"], {"prompt": "a happy horse", "other_parameter": "foobar"})
    defaults = await client.arun_simple(glif["id"])
    # Its blocking form runs its own event loop: in a thread, while this loop serves.
    blocking = await anyio.to_thread.run_sync(client.run_simple, glif["id"], ["a dog"])
    assert positional == named == "a happy horse foobar"
    assert defaults == "a cat y"
    assert blocking == "a dog y"
    # Its own tests, as published: the same calls to a glif with one input (their glif's inputs
    # are unknown), expecting only that the output is a string.
    one = next(g for g in fake.data.public_glifs if _input_names(g) == ["input1"])
    for args in (["a happy horse", "foobar"], {"prompt": "a happy horse", "other_parameter": "foobar"}):
        assert isinstance(await client.arun_simple(one["id"], args), str)
    runs = [r for r in fake.requests if r.path == "/simple"]
    assert len(runs) == 6
    assert all(r.status == 200 and r.authorization == f"Bearer {fake.token}" for r in runs)
