"""``aioglif probe`` names each way the fake server can behave, within its request budget."""

from __future__ import annotations

import json
import sys

import anyio
import pytest

from aioglif import GlifClient
from aioglif._probe import ProbeReport, classify_order, probe
from aioglif.testing import PROFILES, Behaviour, FakeData, FakeGlifServer

from .conftest import make_client

pytestmark = pytest.mark.anyio

_DATA = FakeData.generate(seed=9, users=6, glifs=260, runs=500, spheres=2)


async def _probe(profile: str) -> ProbeReport:
    async with (
        FakeGlifServer(_DATA, behaviour=Behaviour.named(profile)) as server,
        make_client(server) as client,
        GlifClient(api_url=server.api_url, rate=None, anonymous=True) as anonymous,
    ):
        return await probe(client, anonymous=anonymous)


def _order(report: ProbeReport, listing: str) -> str:
    return next(o.order for o in report.orders if o.listing == listing)


@pytest.mark.parametrize("profile", list(PROFILES))
async def test_the_probe_names_every_profile(profile: str) -> None:
    r = await _probe(profile)
    assert r.requests <= 30
    rules = Behaviour.named(profile).glifs
    assert r.first_page == rules.first_page
    assert r.page_honoured is (not rules.ignore_page)
    assert r.page_size_served == (rules.page_cap or 100)
    glifs = _order(r, "glifs")
    want = {
        "newest": "newest-first",
        "oldest": "oldest-first",
        "likes": "by likes",
        "featured": "by featuredAt",
        "relevance": "other",
    }[rules.order]
    assert want in glifs, glifs
    if profile == "likely":
        assert "by featuredAt" in _order(r, "featured glifs")
        assert "other" in _order(r, "search")
    assert r.run_count == ("missing" if profile == "no-run-count" else "present")
    assert r.public_reads_need_token is False
    assert r.user_shape and r.user_shape.startswith("an object")
    assert r.date_header and r.clock_skew_seconds is not None and abs(r.clock_skew_seconds) < 5


def test_order_classification_is_pure() -> None:
    def g(created: str, likes: int = 0, featured: str | None = None) -> dict[str, object]:
        return {"createdAt": created, "_count": {"likes": likes}, "featuredAt": featured}

    assert classify_order([g("3"), g("2"), g("1")]) == "newest-first"
    assert classify_order([g("1"), g("2"), g("3")]) == "oldest-first"
    assert classify_order([g("1", 9), g("3", 5), g("2", 1)]) == "by likes"
    assert classify_order([g("1", 1, "9"), g("3", 5, "8"), g("2", 0)]) == "by featuredAt"
    assert classify_order([g("1", 1), g("3", 5), g("2", 9)]).startswith("other")
    assert classify_order([g("1")]).startswith("unknown")


async def test_the_probe_stays_in_its_budget() -> None:
    async with FakeGlifServer(_DATA) as server, make_client(server) as client:
        r = await probe(client, max_requests=10)
        assert r.requests <= 10 and len(server.requests) <= 10
        with pytest.raises(ValueError, match="at least 10"):
            await probe(client, max_requests=3)


async def test_the_probe_command_prints_a_table_or_json() -> None:
    data = FakeData.generate(seed=9, users=6, glifs=230, runs=300, spheres=1)
    async with FakeGlifServer(data, behaviour=Behaviour.named("page-cap-20")) as server:
        common = [sys.executable, "-m", "aioglif", "--api-url", server.api_url, "--token", server.token]
        table = await anyio.run_process([*common, "--rate", "100", "probe"], check=False)
        js = await anyio.run_process([*common, "--rate", "100", "--json", "probe"], check=False)
    assert table.returncode == 0, table.stderr
    assert "page size served for limit=100  20" in table.stdout.decode()
    report = json.loads(js.stdout)
    assert report["page_size_served"] == 20 and report["first_page"] == 1
    assert report["public_reads_need_token"] is False
