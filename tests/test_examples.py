"""The programs in examples/ run against the fake server, as a user would run them.

(``mypy --strict`` checks them too, with ``disallow_any_expr``: no Any reaches user code.)
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from aioglif import ClientClosedError
from aioglif.graph import inputs
from aioglif.testing import FakeData, FakeGlifServer, Fault
from examples import batch_with_budget, creator_report, harvest_to_parquet, service

pytestmark = pytest.mark.anyio

PLACEHOLDER = (
    "https://res.cloudinary.com/dzkwltgyd/image/upload/v1690807782/nsfw_placeholders/"
    "cartoon_of_a_hamster_with_hands_in_face_in_shame_cute_whimsical_1970s_cartoon_iapc3o.jpg"
)


@pytest.fixture
def env(server: FakeGlifServer, monkeypatch: pytest.MonkeyPatch) -> FakeGlifServer:
    """The examples read the API's address and token from the environment, as documented."""
    monkeypatch.setenv("GLIF_API_URL", server.api_url)
    monkeypatch.setenv("GLIF_SIMPLE_API_URL", server.simple_api_url)
    monkeypatch.setenv("GLIF_API_TOKEN", server.token)
    return server


async def test_harvest_to_parquet(
    env: FakeGlifServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    db, out = str(tmp_path / "glif.sqlite"), tmp_path / "parquet"
    assert await harvest_to_parquet.main([db, str(out), "--featured", "--runs"]) == 0
    featured = {g["id"] for g in env.data.featured_glifs}
    runs = {r["id"] for r in env.data.public_runs if r["spellId"] in featured}
    assert set(pq.read_table(out / "glifs.parquet").column("id").to_pylist()) == featured
    assert set(pq.read_table(out / "runs.parquet").column("id").to_pylist()) == runs
    assert f"glifs: {len(featured)} rows" in capsys.readouterr().out
    # Run again: the crawl is complete, nothing is fetched again, the export is the same.
    served = len(env.requests)
    assert await harvest_to_parquet.main([db, str(out), "--featured", "--runs"]) == 0
    assert len(env.requests) == served


async def test_the_service_holds_one_client(env: FakeGlifServer) -> None:
    glif = next(g for g in env.data.public_glifs if g.get("outputType") == "TEXT")
    app = service.make_app()
    async with TestClient(TestServer(app)) as http:
        described = await http.get(f"/glifs/{glif['id']}")
        assert described.status == 200
        body = await described.json()
        assert body["name"] == glif["name"] and [i["name"] for i in body["inputs"]] == [
            n["name"] for n in glif["data"]["nodes"] if "Input" in n["type"] or n["type"] == "MultipickBlock"
        ]
        first = body["inputs"][0]["name"]
        ran = await http.post(f"/glifs/{glif['id']}/run", json={first: "otters"})
        assert ran.status == 200 and "otters" in (await ran.json())["output"]
        assert (await http.get("/glifs/no-such-glif")).status == 404
        assert (await http.post("/glifs/no-such-glif/run", json={})).status == 404
        assert (await http.post(f"/glifs/{glif['id']}/run", data=b"[1]")).status == 400
        env.inject(
            Fault.answer(200, body=b'{"id": "x", "output": "' + PLACEHOLDER.encode() + b'"}'), path="/simple"
        )
        assert (await http.post(f"/glifs/{glif['id']}/run", json={})).status == 422
        env.failing_glifs.add(glif["id"])
        assert (await http.post(f"/glifs/{glif['id']}/run", json={})).status == 502
    # The one client lived as long as the application: closed at its shutdown.
    with pytest.raises(ClientClosedError):
        await app[service.CLIENT].get_glif(glif["id"])


@pytest.fixture
async def runs_server(monkeypatch: pytest.MonkeyPatch) -> FakeGlifServer:
    data = FakeData.generate(seed=5, users=2, glifs=20, runs=0, spheres=0)
    data.credits = dict.fromkeys(data.credits, Decimal(1000))
    async with FakeGlifServer(data) as server:
        monkeypatch.setenv("GLIF_API_URL", server.api_url)
        monkeypatch.setenv("GLIF_SIMPLE_API_URL", server.simple_api_url)
        monkeypatch.setenv("GLIF_API_TOKEN", server.token)
        yield server  # type: ignore[misc]


async def test_batch_with_a_budget(
    runs_server: FakeGlifServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import msgspec

    from aioglif import Graph

    glif = runs_server.data.public_glifs[0]
    name = inputs(msgspec.convert(glif["data"], Graph))[0].name
    csv = tmp_path / "topics.csv"
    csv.write_text(name + "\n" + "".join(f"topic {i}\n" for i in range(40)), encoding="utf-8")
    price = Decimal(len(glif["data"]["nodes"])) / 4 + Decimal("0.0000875")  # the fake's price
    budget = price * 10
    runs_server.inject(Fault.answer(503), path="/simple")  # one run sent, answered by a 5xx
    code = await batch_with_budget.main([glif["id"], str(csv), "--budget", str(budget), "--concurrency", "2"])
    out, err = capsys.readouterr()
    assert code == 1 and "stopped" in err  # 1: not every row ran
    assert 0 < runs_server.runs_started < 40
    assert runs_server.runs_started * price <= budget  # never past the budget
    assert out.count("row ") == runs_server.runs_started + 1 and out.count("FAILED") == 1
    assert "sent without an answer" in err  # that one may have run: said, not hidden
    # A header that names no input: every row refused, nothing paid for.
    csv.write_text("wrong_name\nx\ny\n", encoding="utf-8")
    started = runs_server.runs_started
    assert await batch_with_budget.main([glif["id"], str(csv), "--budget", "5"]) == 1
    assert runs_server.runs_started == started
    assert "not inputs of glif" in capsys.readouterr().out


async def test_creator_report(env: FakeGlifServer, capsys: pytest.CaptureFixture[str]) -> None:
    # The fewest glifs that still make a report: the example runs at the client's default 10/s.
    counts = {u["id"]: len(env.data.glifs_by_user[u["id"]]) for u in env.data.users.values()}
    user = env.data.users[min((u for u in counts if counts[u] >= 2), key=counts.__getitem__)]
    theirs = env.data.glifs_by_user[user["id"]]
    assert await creator_report.main([user["username"], "--runs-per-glif", "3", "--create-remix"]) == 0
    out = capsys.readouterr().out
    assert sum(f"({g['id']})" in out for g in theirs) == len(theirs) >= 2
    remix = env.data.glifs[0]  # the newest: the draft just created
    assert remix["name"].endswith("(remix)") and remix["publishedAt"] is None
    assert [n["type"] for n in remix["data"]["nodes"]] == ["TextInputBlock", "GlifBlock", "GPTBlock"]
    assert await creator_report.main(["nobody-at-all"]) == 1
    assert "no user 'nobody-at-all'" in capsys.readouterr().err
