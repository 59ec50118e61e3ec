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
    server.faults.rate_limit = 0.01  # one in 100 s: the next requests are refused however slow
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


async def test_a_trailing_slash_is_the_same_url(server: FakeGlifServer) -> None:
    assert (await _get(server, "/api/glifs/?limit=3"))[:2] == (await _get(server, "/api/glifs?limit=3"))[:2]
    glif = server.data.public_glifs[0]
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(headers=headers) as s:
        for url in (server.simple_api_url + "/", f"{server.simple_api_url}/{glif['id']}/"):
            async with s.post(url, json={"id": glif["id"], "inputs": {}}) as r:
                assert r.status == 200
                assert "error" not in await r.json()


async def test_the_simple_api_answers_cors_preflights_and_sends_cors_headers(server: FakeGlifServer) -> None:
    preflight = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    async with aiohttp.ClientSession() as s:
        async with s.options(server.simple_api_url, headers=preflight) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
            assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
        async with s.post(server.simple_api_url, json={}) as r:  # no token: an error, readable
            assert r.status == 401
            assert r.headers["Access-Control-Allow-Origin"] == "*"
    _, _, headers = await _get(server, "/api/glifs")
    assert "Access-Control-Allow-Origin" not in headers  # the other endpoints allow no CORS


async def test_named_inputs_as_top_level_keys_are_run(server: FakeGlifServer) -> None:
    nodes = [
        {"name": "query", "type": "TextInputBlock", "params": {"label": "query", "value": "default"}},
        {"name": "gpt1", "type": "GPTBlock", "params": {"prompt": "{query}"}},
    ]
    glif = server.data.add_glif(graph=nodes)
    glif["outputType"] = "TEXT"
    headers = {"Authorization": f"Bearer {server.token}"}
    body_in = {"id": glif["id"], "query": "what is new"}
    async with aiohttp.ClientSession(headers=headers) as s, s.post(server.simple_api_url, json=body_in) as r:
        body = await r.json()
    assert body["inputs"] == {"query": "what is new"}
    assert body["output"] == "what is new"


async def test_users_by_path_and_users_without_null_fields(server: FakeGlifServer) -> None:
    user = next(iter(server.data.users.values()))
    by_path = await _get(server, f"/api/users/{user['id']}")
    assert by_path[:2] == (await _get(server, f"/api/user?id={user['id']}"))[:2] == (200, user)
    assert (await _get(server, "/api/users/nobody"))[0] == 404
    records = [*server.data.users.values()]
    assert all(None not in (u.get("website", ""), u.get("location", "")) for u in records)
    assert any("website" not in u for u in records)
    assert any("website" in u for u in records)
    assert all(r["deletionReason"] is None for r in server.data.runs)


async def test_bots_list_sort_search_creator_and_lookup(server: FakeGlifServer) -> None:
    bots = server.data.bots
    assert bots
    _, new, _ = await _get(server, "/api/bots?sort=new")
    assert [b["id"] for b in new] == [b["id"] for b in bots]  # type: ignore[union-attr]
    _, popular, _ = await _get(server, "/api/bots?sort=popular")
    counts = [b["messageCount"] or 0 for b in popular]  # type: ignore[union-attr]
    assert counts == sorted(counts, reverse=True)
    assert (await _get(server, "/api/bots"))[1] == popular  # the fake's default sort
    _, featured, _ = await _get(server, "/api/bots?sort=featured")
    assert 0 < len(featured) < len(bots)  # type: ignore[arg-type]
    assert all(not k.startswith("_") for b in new for k in b)  # type: ignore[union-attr]
    creator = bots[0]["user"]["username"]
    _, mine, _ = await _get(server, f"/api/bots?creator={creator}")
    assert mine and all(b["user"]["username"] == creator for b in mine)  # type: ignore[union-attr, index]
    word = bots[0]["name"].split()[1]
    _, found, _ = await _get(server, f"/api/bots?searchQuery={word.upper()}")
    assert bots[0]["id"] in [b["id"] for b in found]  # type: ignore[union-attr]
    status, one, _ = await _get(server, f"/api/bots?id={bots[0]['id']}")
    assert status == 200 and one["id"] == bots[0]["id"]  # type: ignore[index]
    assert (await _get(server, "/api/bots?id=nope"))[0] == 404
    assert (await _get(server, "/api/bots?sort=oldest"))[0] == 400


async def test_bots_use_public_glifs_and_leave_the_rest_of_the_seed_alone() -> None:
    with_bots = FakeData.generate(seed=4, glifs=40, runs=80, bots=20)
    without = FakeData.generate(seed=4, glifs=40, runs=80, bots=0)
    assert without.bots == []
    assert [r["id"] for r in with_bots.runs] == [r["id"] for r in without.runs]
    used = {s["spell"]["id"] for b in with_bots.bots for s in b["spellsForBot"]}
    assert used and used <= {g["id"] for g in with_bots.public_glifs}
