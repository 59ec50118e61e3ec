"""The fake Glif server answers like the API, and its knobs do what they say."""

from __future__ import annotations

import aiohttp
import pytest

from aioglif.testing import FakeData, FakeGlifServer, Fault

pytestmark = pytest.mark.anyio


async def _get(server: FakeGlifServer, path: str, **headers: str) -> tuple[int, object, dict[str, str]]:
    async with aiohttp.ClientSession() as s, s.get(server.url + path, headers=headers) as r:
        return r.status, await r.json(content_type=None), dict(r.headers)


async def test_page_and_limit_defaults_and_cap(server: FakeGlifServer) -> None:
    status, body, _ = await _get(server, "/api/glifs")
    assert status == 200
    assert isinstance(body, list) and len(body) == 20  # limit defaults to 20
    _, body, _ = await _get(server, "/api/glifs?limit=500")
    assert isinstance(body, list) and len(body) == 100  # silently capped
    _, page2, _ = await _get(server, "/api/glifs?page=2&limit=5")
    assert [g["id"] for g in page2] == [g["id"] for g in server.data.public_glifs[5:10]]  # type: ignore[union-attr]
    for bad in ("page=0", "limit=0", "page=x"):
        status, body, _ = await _get(server, f"/api/glifs?{bad}")
        assert status == 400
        assert "error" in body  # type: ignore[operator]


async def test_lists_are_newest_first(server: FakeGlifServer) -> None:
    _, body, _ = await _get(server, "/api/runs?limit=100")
    stamps = [r["createdAt"] for r in body]  # type: ignore[union-attr]
    assert stamps == sorted(stamps, reverse=True)


async def test_unknown_ids_are_empty_arrays_and_unknown_paths_json_404(server: FakeGlifServer) -> None:
    assert (await _get(server, "/api/glifs?id=nope"))[:2] == (200, [])
    status, body, _ = await _get(server, "/api/nothing-here")
    assert status == 404
    assert "error" in body  # type: ignore[operator]


async def test_a_bad_token_is_401_everywhere(server: FakeGlifServer) -> None:
    status, body, _ = await _get(server, "/api/glifs", Authorization="Bearer wrong")
    assert status == 401
    assert body == {"error": "Invalid API token"}


async def test_rate_limit_answers_429_with_retry_after(server: FakeGlifServer) -> None:
    server.faults.rate_limit = 1.0
    assert (await _get(server, "/api/glifs"))[0] == 200
    status, _, headers = await _get(server, "/api/glifs")
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    server.faults.retry_after = "date"
    status, _, headers = await _get(server, "/api/glifs")
    assert status == 429
    assert headers["Retry-After"].endswith("GMT")


async def test_scripted_faults_match_path_and_query(server: FakeGlifServer) -> None:
    server.inject(Fault.answer(418), path="/api/runs", query={"page": "2"})
    assert (await _get(server, "/api/runs?page=1"))[0] == 200
    assert (await _get(server, "/api/glifs?page=2"))[0] == 200
    assert (await _get(server, "/api/runs?page=2"))[0] == 418
    assert (await _get(server, "/api/runs?page=2"))[0] == 200


async def test_data_is_deterministic_from_the_seed() -> None:
    a = FakeData.generate(seed=5, glifs=30, runs=50)
    b = FakeData.generate(seed=5, glifs=30, runs=50)
    c = FakeData.generate(seed=6, glifs=30, runs=50)
    assert [g["id"] for g in a.glifs] == [g["id"] for g in b.glifs]
    assert [g["id"] for g in a.glifs] != [g["id"] for g in c.glifs]
    sizes = [len(g["data"]["nodes"]) for g in a.glifs]
    assert min(sizes) >= 2
    assert max(sizes) <= 12


async def test_runs_per_glif_and_counts_agree() -> None:
    data = FakeData.generate(seed=1, glifs=40, runs_per_glif=(0, 30), drafts=0)
    for glif in data.public_glifs:
        assert 0 <= glif["completedSpellRunCount"] <= 30
        assert len(data.runs_by_glif.get(glif["id"], [])) == glif["completedSpellRunCount"]


async def test_control_routes_report_reset_and_set_faults(server: FakeGlifServer) -> None:
    await _get(server, "/api/glifs?page=1")
    await _get(server, "/api/glifs?page=1")
    await _get(server, "/api/glifs?page=99")
    _, stats, _ = await _get(server, "/_fake/stats")
    assert stats["requests"] == 3  # type: ignore[index]
    assert stats["repeats"] == 1  # type: ignore[index]
    assert stats["empty_pages"] == 1  # type: ignore[index]
    async with aiohttp.ClientSession() as s:
        async with s.post(server.url + "/_fake/faults", json={"latency": 0.01, "rate_limit": 5}) as r:
            assert r.status == 200
        async with s.post(server.url + "/_fake/reset") as r:
            assert r.status == 200
    assert server.faults.rate_limit == 5
    assert server.requests == []


async def test_limiter_shapes_and_rate_limit_headers(server: FakeGlifServer) -> None:
    server.faults.rate_limit, server.faults.limiter, server.faults.window = 2.0, "fixed", 60.0
    server.faults.rate_limit_headers, server.faults.retry_after = True, "none"
    answers = [await _get(server, "/api/glifs?limit=1") for _ in range(121)]
    assert [a[0] for a in answers] == [200] * 120 + [429]
    assert answers[0][2]["X-RateLimit-Limit"] == "120"
    assert answers[0][2]["X-RateLimit-Remaining"] == "119"
    assert "Retry-After" not in answers[-1][2]
    assert 0 < int(answers[-1][2]["X-RateLimit-Reset"]) <= 60
