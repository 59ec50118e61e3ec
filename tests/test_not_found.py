"""Every "not found" is a NotFoundError, in every shape the evidence allows: an empty array, a
200 with ``null``, ``{}`` or ``{"error": ...}``, and the Simple API's not-found texts in a 200 or
a 5xx (never retried: the answer will not change)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

import aioglif as g
from aioglif._protocol import empty_answer, says_not_found, status_error
from aioglif.testing import FakeGlifServer, Fault

pytestmark = pytest.mark.anyio

EMPTY_BODIES = [b"[]", b"null", b"{}", b" null\n", b'{"error": "Not found"}', b'{"error": "no such spell"}']


@pytest.mark.parametrize("body", EMPTY_BODIES)
def test_empty_answers_are_recognised(body: bytes) -> None:
    assert empty_answer(body) is not None


@pytest.mark.parametrize(
    "body", [b'[{"id": "a"}]', b'{"id": "a", "error": null}', b'{"id": "u", "name": "error"}', b"[1", b"{"]
)
def test_answers_with_data_are_not_empty(body: bytes) -> None:
    assert empty_answer(body) is None


@pytest.mark.parametrize(
    "text",
    [
        "could not fetch glif",
        "Error: Could not fetch glif clxyz (it may be private)",
        "Glif not found",
        "workflow clxyz was not found",
        "No such glif",
    ],
)
def test_not_found_texts(text: str) -> None:
    assert says_not_found(text)


@pytest.mark.parametrize(
    "text", ["Prompt is required", "Run failed: the model returned an error", "Not enough credits", "", None]
)
def test_other_run_errors_are_not_not_found(text: str | None) -> None:
    assert not says_not_found(text)


def test_a_5xx_saying_could_not_fetch_glif_is_not_found_and_not_retried() -> None:
    err = status_error(500, b"Error: could not fetch glif", method="POST", url="u")
    assert isinstance(err, g.NotFoundError) and err.status == 500
    other = status_error(500, b'{"error": "database is down"}', method="POST", url="u")
    assert type(other) is g.ServerError


Lookup = Callable[[g.GlifClient], Awaitable[object]]
LOOKUPS: dict[str, tuple[str, Lookup]] = {
    "glif": ("/api/glifs", lambda c: c.get_glif("unknown")),
    "run": ("/api/runs", lambda c: c.get_run("unknown")),
    "user by id": ("/api/user", lambda c: c.get_user(id="unknown")),
    "user by name": ("/api/user", lambda c: c.get_user(username="unknown")),
}


@pytest.mark.parametrize("body", EMPTY_BODIES)
@pytest.mark.parametrize("what", sorted(LOOKUPS))
async def test_lookups_of_unknown_ids_raise_not_found(
    client: g.GlifClient, server: FakeGlifServer, what: str, body: bytes
) -> None:
    path, lookup = LOOKUPS[what]
    server.inject(Fault.answer(200, body=body), path=path)
    with pytest.raises(g.NotFoundError) as info:
        await lookup(client)
    assert info.value.status == 404 and "unknown" in str(info.value)
    assert len(server.served(path)) == 1  # an answer, not a failure: not retried


async def test_the_fake_servers_own_unknown_ids_are_not_found(client: g.GlifClient) -> None:
    for what in sorted(LOOKUPS):
        with pytest.raises(g.NotFoundError):
            await LOOKUPS[what][1](client)


async def test_a_sphere_answered_with_null_is_not_found(client: g.GlifClient, server: FakeGlifServer) -> None:
    server.inject(Fault.answer(200, body=b"null"), path="/api/spheres", query={"slug": "nope"})
    with pytest.raises(g.NotFoundError):
        await client.get_sphere(slug="nope")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b'{"error": "Glif not found"}'),
        (200, b'{"error": "could not fetch glif"}'),
        (500, b"could not fetch glif"),
        (502, b'{"error": "Could not fetch glif clxyz"}'),
        (404, b'{"error": "Not Found"}'),
    ],
)
async def test_a_run_of_an_unknown_glif_is_not_found(
    client: g.GlifClient, server: FakeGlifServer, status: int, body: bytes
) -> None:
    glif_id = server.data.public_glifs[0]["id"]
    server.inject(Fault.answer(status, body=body), path="/simple")
    with pytest.raises(g.NotFoundError):
        await client.run_glif(glif_id)
    assert len(server.served()) == 1  # not retried, even as a 5xx
    assert server.runs_started == 0
