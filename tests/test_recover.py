"""Finding the runs of unknown jobs among the user's runs, under every way the API may list them."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from aioglif import GlifClient
from aioglif._jobstore import Candidate
from aioglif._recover import find_runs
from aioglif.graph import InputSpec
from aioglif.graph import inputs as graph_inputs
from aioglif.testing import PROFILES, Behaviour, FakeGlifServer

from .conftest import make_client
from .test_dispatch import input_names

pytestmark = pytest.mark.anyio


def one_input_glif(server: FakeGlifServer) -> tuple[str, str]:
    # More inputs than the jobs give: the server fills in the defaults, and the runs still match.
    glif = next(g for g in server.data.public_glifs if len(input_names(g)) >= 2)
    return glif["id"], input_names(glif)[0]


async def specs(client: GlifClient, glif_id: str) -> list[InputSpec]:
    glif = await client.get_glif(glif_id)
    assert glif.data is not None
    return graph_inputs(glif.data)


def job(
    id: str, name: str, value: str, at: float, state: str = "unknown", run_id: str | None = None
) -> Candidate:
    return Candidate(id, state, json.dumps({name: value}, ensure_ascii=False, sort_keys=True), at, run_id)


@pytest.mark.parametrize(
    "profile",
    ["default", "oldest-first", "by-likes", "shuffled", "page-cap-7", "likes-cap-20-zero", "ignores-page"],
)
async def test_unknown_jobs_find_their_runs_one_to_one_earliest_first(
    runs_server: FakeGlifServer, profile: str
) -> None:
    glif_id, name = one_input_glif(runs_server)
    runs_server.set_behaviour(PROFILES[profile]())
    t0 = time.time()
    async with make_client(runs_server) as client:
        made = {}
        # Nine runs of "x" (more than a capped page), two of "a", one of "b"; none of "c".
        for i, value in enumerate(["a", "b", "a", *["x"] * 9]):
            await client.run_glif(glif_id, {name: value}, visibility="PUBLIC")
            made[i] = runs_server.data.runs[0]["id"]  # the newest run: this one
        jobs = [
            job("a1", name, "a", t0),
            job("a2", name, "a", t0 + 0.001),
            job("a3", name, "a", t0 + 0.002),  # a third job with equal inputs: only two runs
            job("b-ok", name, "b", t0),  # an ok job sent first keeps the one run of "b"
            job("b", name, "b", t0 + 0.001),
            job("c", name, "c", t0),  # never reached the server
            *[job(f"x{i}", name, "x", t0 + i / 1000) for i in range(9)],
        ]
        jobs[3] = dataclasses.replace(jobs[3], state="ok")
        found, problem = await find_runs(client, glif_id, await specs(client, glif_id), jobs)
    if profile == "ignores-page":
        # Said, and what the first page held (every run here) is still used.
        assert problem is not None and "ignores 'page'" in problem
    else:
        assert problem is None
    got = {f.job_id: f.run.id for f in found}
    assert set(got) == {"a1", "a2", *[f"x{i}" for i in range(9)]}
    assert (got["a1"], got["a2"]) == (made[0], made[2])  # earliest job, earliest run
    assert sorted(got[f"x{i}"] for i in range(9)) == sorted(made[i] for i in range(3, 12))
    assert all(f.run.inputs and f.run.inputs[name] == ("a" if f.job_id[0] == "a" else "x") for f in found)
    assert all(f.record().state == "ok" and f.record().price is not None for f in found)


async def test_runs_sent_before_the_job_are_not_its_own(runs_server: FakeGlifServer) -> None:
    glif_id, name = one_input_glif(runs_server)
    async with make_client(runs_server) as client:
        await client.run_glif(glif_id, {name: "old"}, visibility="PUBLIC")
        found, _ = await find_runs(
            client, glif_id, await specs(client, glif_id), [job("j", name, "old", time.time() + 3600)]
        )
    assert found == []


@pytest.mark.parametrize("private_runs", ["hidden", "owner"])
async def test_private_runs_are_found_only_where_the_api_lists_them(
    runs_server: FakeGlifServer, private_runs: str
) -> None:
    glif_id, name = one_input_glif(runs_server)
    runs_server.set_behaviour(Behaviour(private_runs=private_runs))  # type: ignore[arg-type]
    t0 = time.time()
    async with make_client(runs_server) as client:
        await client.run_glif(glif_id, {name: "secret"})  # private by default
        run_id = runs_server.data.runs[0]["id"]
        found, problem = await find_runs(
            client, glif_id, await specs(client, glif_id), [job("j", name, "secret", t0)]
        )
    assert problem is None
    assert [f.run.id for f in found] == ([run_id] if private_runs == "owner" else [])


def test_the_fake_server_command_can_list_private_runs_to_their_owner() -> None:
    from aioglif.cli._app import _parser
    from aioglif.cli._fake_server import _behaviour

    args = _parser().parse_args(["fake-server", "--private-runs", "owner", "--order", "oldest"])
    behaviour = _behaviour(args)
    assert (behaviour.private_runs, behaviour.runs.order) == ("owner", "oldest")
    assert _behaviour(_parser().parse_args(["fake-server"])).private_runs == "hidden"
