"""Every endpoint of the client against the fake server."""

from __future__ import annotations

from decimal import Decimal

import pytest

import aioglif as g
from aioglif.testing import FakeGlifServer

from .conftest import make_client

pytestmark = pytest.mark.anyio


async def test_get_glif_with_graph(client: g.GlifClient, server: FakeGlifServer) -> None:
    want = server.data.public_glifs[5]
    glif = await client.get_glif(want["id"])
    assert glif.id == want["id"] and glif.name == want["name"]
    assert glif.data is not None and len(glif.data.nodes) == len(want["data"]["nodes"])
    assert glif.likes == want["_count"]["likes"]
    assert server.requests[-1].query == {"id": want["id"]}


async def test_unknown_ids_raise_not_found(client: g.GlifClient) -> None:
    for call in (client.get_glif("nope"), client.get_run("nope")):
        with pytest.raises(g.NotFoundError) as info:
            await call
        assert info.value.status == 404
    with pytest.raises(g.NotFoundError):
        await client.get_user(username="nobody-here")


async def test_glifs_lists_all_public_newest_first(client: g.GlifClient, server: FakeGlifServer) -> None:
    glifs = await client.glifs(page_size=50, concurrency=1).collect()
    assert [x.id for x in glifs] == [x["id"] for x in server.data.public_glifs]
    assert all(x.data is None for x in glifs)
    pages = [r.query["page"] for r in server.served("/api/glifs")]
    # Page 0 once, to learn where pages start (the fake refuses it); then 114 glifs: 50 + 50
    # and a short page that ends it, as pages of 50 were served in full.
    assert pages == ["0", "1", "2", "3"]
    assert client.listing_facts["/glifs"].first_page == 1


async def test_glifs_filters(client: g.GlifClient, server: FakeGlifServer) -> None:
    d = server.data
    featured = await client.glifs(featured=True).collect()
    assert {x.id for x in featured} == {x["id"] for x in d.featured_glifs} and featured
    user = next(iter(d.users.values()))
    by_name = await client.glifs(username=user["username"]).collect()
    by_id = await client.glifs(user_id=user["id"]).collect()
    assert by_name == by_id and all(x.user_id == user["id"] for x in by_name)
    word = d.public_glifs[0]["name"].split()[0]
    found = await client.glifs(query=word).collect()
    assert found and all(word in (x.name or "") + " " + (x.description or "") for x in found)
    with_graph = await client.glifs(include_graph=True, max_items=3).collect()
    assert len(with_graph) == 3 and all(x.data is not None for x in with_graph)
    assert server.requests[-1].query["includes"] == "spells.data"


async def test_paginator_first_page_max_items_and_pages(client: g.GlifClient) -> None:
    first = await client.glifs(page_size=10).first_page()
    assert first.number == 1 and len(first.items) == 10 and first.has_more
    pages = [p async for p in client.glifs(page_size=40, max_items=90).pages()]
    assert [len(p.items) for p in pages] == [40, 40, 10]
    assert [p.has_more for p in pages] == [True, True, False]
    assert len(await client.glifs().collect(max_items=7)) == 7


async def test_breaking_out_of_a_listing_stops_requests(server: FakeGlifServer) -> None:
    async with make_client(server, first_page=1) as client:
        async for _glif in client.glifs(page_size=10):
            break
    assert len(server.served("/api/glifs")) == 1


async def test_runs_of_a_glif_and_of_a_user(client: g.GlifClient, server: FakeGlifServer) -> None:
    d = server.data
    busy = max(d.public_glifs, key=lambda x: x["completedSpellRunCount"])
    runs = await client.runs(glif_id=busy["id"]).collect()
    assert len(runs) == busy["completedSpellRunCount"] > 0
    assert all(r.glif_id == busy["id"] and r.spell is not None for r in runs)
    assert all(isinstance(r.price, Decimal) for r in runs)
    assert runs == sorted(runs, key=lambda r: r.created_at or 0, reverse=True)  # type: ignore[arg-type, return-value]
    user = next(iter(d.users.values()))
    mine = await client.runs(username=user["username"]).collect()
    assert mine == await client.runs(user_id=user["id"]).collect()
    assert {r.user_id for r in mine} == {user["id"]}
    recent = await client.runs(max_items=5).collect()
    assert [r.id for r in recent] == [r["id"] for r in d.public_runs[:5]]


async def test_get_run(client: g.GlifClient, server: FakeGlifServer) -> None:
    want = server.data.public_runs[3]
    run = await client.get_run(want["id"])
    assert run.id == want["id"] and run.inputs == want["inputs"]
    assert run.user is not None and run.user.id == want["userId"]


async def test_get_user_by_id_and_username(client: g.GlifClient, server: FakeGlifServer) -> None:
    want = list(server.data.users.values())[2]
    assert (await client.get_user(id=want["id"])).username == want["username"]
    assert (await client.get_user(username=want["username"])).id == want["id"]


async def test_me_needs_a_token(server: FakeGlifServer) -> None:
    async with make_client(server) as client:
        me = await client.me()
        assert me.user.id == server.tokens[server.token]  # type: ignore[index]
        assert me.credits is not None and me.credits.remaining is not None
    async with make_client(server, token=None) as anonymous:
        with pytest.raises(g.AuthenticationError):
            await anonymous.me()
        # Public reads work without a token, as third-party code shows.
        assert await anonymous.glifs(max_items=2).collect()
    async with make_client(server, token="wrong") as wrong:
        with pytest.raises(g.AuthenticationError):
            await wrong.glifs().first_page()


@pytest.mark.parametrize("shape", ["object", "array"])
async def test_spheres_in_either_response_shape(server: FakeGlifServer, shape: str) -> None:
    server.sphere_shape = shape  # type: ignore[assignment]
    async with make_client(server) as client:
        spheres = await client.spheres().collect()
        assert [s.slug for s in spheres] == [s["slug"] for s in server.data.spheres]
        want = max(server.data.spheres, key=lambda s: len(s["glifIds"]))
        sphere = await client.get_sphere(slug=want["slug"])
        assert sphere.id == want["id"] and sphere.name == want["name"]
        assert [x.id for x in sphere.items] == want["glifIds"][:20]  # the API's default page
        glifs = await client.sphere_glifs(id=want["id"], page_size=7).collect()
        assert [x.id for x in glifs] == want["glifIds"]
        with pytest.raises(g.NotFoundError):
            await client.get_sphere(slug="no-such-sphere")


async def test_create_glif_draft_and_published(client: g.GlifClient, server: FakeGlifServer) -> None:
    graph = g.Graph(
        nodes=[
            g.Node(name="q", type="TextInputBlock", params={"label": "q", "value": "hi"}),
            g.Node(name="a", type="GPTBlock", params={"prompt": "{q}", "maxTokens": 100}),
        ]
    )
    draft = await client.create_glif("my glif", description="d", graph=graph)
    assert draft.name == "my glif" and draft.published_at is None and draft.data == graph
    sent = server.requests[-1]
    assert sent.method == "POST" and b'"graph"' in sent.body and b"publishedAt" not in sent.body
    # A draft is visible to its owner only.
    assert (await client.get_glif(draft.id)).id == draft.id
    async with make_client(server, token=None) as anonymous:
        with pytest.raises(g.NotFoundError):
            await anonymous.get_glif(draft.id)
    published = await client.create_glif("shown", graph={"nodes": []}, published=True)
    assert published.published_at is not None
    assert (await client.glifs().first_page()).items[0].id == published.id


async def test_create_glif_rejections(client: g.GlifClient, server: FakeGlifServer) -> None:
    from aioglif.graph import GraphError

    bad = {"nodes": [{"name": "a", "type": "X"}, {"name": "a", "type": "Y"}]}
    sent = len(server.requests)
    with pytest.raises(GraphError) as problems:
        await client.create_glif("dup", graph=bad)
    assert [p.code for p in problems.value.problems] == ["duplicate-name"]
    assert len(server.requests) == sent  # refused before anything was sent
    # Unchecked, the server refuses it the same way.
    with pytest.raises(g.APIStatusError) as info:
        await client.create_glif("dup", graph=bad, validate=False)
    assert info.value.status == 400 and "used twice" in str(info.value)  # in its own words
    async with make_client(server, token=None) as anonymous:
        with pytest.raises(g.AuthenticationError):
            await anonymous.create_glif("x")


async def test_run_glif_named_and_positional(client: g.GlifClient, server: FakeGlifServer) -> None:
    glif = server.data.public_glifs[0]
    names = [
        n["name"]
        for n in glif["data"]["nodes"]
        if n["type"] in ("TextInputBlock", "MultipickBlock", "ImageInputBlock")
    ]
    result = await client.run_glif(glif["id"], {names[0]: "hello"}, visibility="PUBLIC")
    assert result.id == glif["id"] and result.inputs is not None and result.inputs[names[0]] == "hello"
    assert isinstance(result.price, Decimal) and result.output_full is not None
    assert server.requests[-1].path == "/simple"
    positional = await client.run_glif(glif["id"], ["x"] * len(names))
    assert positional.inputs == dict.fromkeys(names, "x")
    # The public run shows up in the listings; the private one does not.
    assert (await client.runs(glif_id=glif["id"]).first_page()).items[0].inputs == result.inputs


async def test_run_failures_are_run_failed_errors(client: g.GlifClient, server: FakeGlifServer) -> None:
    glif = server.data.public_glifs[0]
    server.failing_glifs.add(glif["id"])
    with pytest.raises(g.RunFailedError) as info:
        await client.run_glif(glif["id"])
    assert info.value.result.error is not None and "model returned an error" in str(info.value)
    # An unknown glif is not a failed run: it is not found (and nothing was paid).
    with pytest.raises(g.NotFoundError, match="Glif not found"):
        await client.run_glif("no-such-glif")


async def test_strict_mode_reports_missing_inputs(client: g.GlifClient, server: FakeGlifServer) -> None:
    glif = next(
        x for x in server.data.public_glifs if sum("Input" in n["type"] for n in x["data"]["nodes"]) >= 2
    )
    assert (await client.run_glif(glif["id"], {})).inputs  # defaults fill in
    with pytest.raises(g.RunFailedError, match="strict"):
        await client.run_glif(glif["id"], {}, strict=True)
    assert server.requests[-1].query == {"strict": "1"}


async def test_bad_arguments_raise_before_any_request(client: g.GlifClient, server: FakeGlifServer) -> None:
    before = len(server.requests)
    with pytest.raises(ValueError, match="1 to 100"):
        client.glifs(page_size=101)
    with pytest.raises(ValueError, match="1 to 100"):
        client.runs(page_size=0)
    with pytest.raises(ValueError, match="max_items"):
        client.glifs(max_items=0)
    with pytest.raises(ValueError, match="non-empty"):
        await client.get_glif("")
    with pytest.raises(ValueError, match="glif_id must be a non-empty"):
        client.runs(glif_id="")  # no filter at all would list every public run
    with pytest.raises(ValueError, match="non-empty"):
        await client.get_run("   ")
    with pytest.raises(ValueError, match="exactly one"):
        await client.get_sphere(slug="a", id="b")
    with pytest.raises(ValueError, match="exactly one"):
        await client.get_user()
    with pytest.raises(ValueError, match="at most one"):
        client.glifs(username="a", user_id="b")
    with pytest.raises(ValueError, match="at most one"):
        client.runs(username="a", user_id="b")
    with pytest.raises(ValueError, match="name"):
        await client.create_glif("")
    with pytest.raises(ValueError, match="graph"):
        await client.create_glif("x", graph={"blocks": []})
    with pytest.raises(ValueError, match="string"):
        await client.run_glif("g", {"a": 1})  # type: ignore[dict-item]
    assert len(server.requests) == before


async def test_client_lifecycle(server: FakeGlifServer) -> None:
    client = make_client(server)
    async with client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_glif("x")
    with pytest.raises(RuntimeError, match="once"):
        await client.__aenter__()


async def test_environment_variables_configure_the_client(
    server: FakeGlifServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLIF_API_TOKEN", server.token)
    monkeypatch.setenv("GLIF_API_URL", server.api_url)
    monkeypatch.setenv("GLIF_SIMPLE_API_URL", server.simple_api_url)
    async with g.GlifClient(rate=None) as client:
        assert client.settings.api_url == server.api_url
        assert (await client.me()).user.id


async def test_a_caller_supplied_session_is_used_and_left_open(server: FakeGlifServer) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with make_client(server, session=session) as client:
            assert await client.glifs(max_items=1).collect()
        assert not session.closed
