"""The wire seam is public (``aioglif.wire``), and the sender above it knows no aiohttp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aioglif
from aioglif.testing import FakeGlifServer
from aioglif.wire import AiohttpWire, Request, Response, Wire

pytestmark = pytest.mark.anyio

PACKAGE = Path(aioglif.__file__).parent


def _imports(module: str) -> tuple[set[str], set[str]]:
    """The aioglif modules ``module`` imports, and the other top-level packages it imports."""
    path = PACKAGE / (module.replace(".", "/") + ".py")
    ours: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = module.rsplit(".", node.level)[0] if "." in module else ""
            name = ".".join(p for p in (base, node.module or "") if p)
            targets = [name] if node.module else [f"{name}.{a.name}".strip(".") for a in node.names]
            ours.update(t for t in targets if (PACKAGE / (t.replace(".", "/") + ".py")).exists())
        elif isinstance(node, ast.Import):
            others.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            others.add((node.module or "").split(".")[0])
    return ours, others


def test_the_sender_imports_no_aiohttp_even_through_what_it_imports() -> None:
    seen: set[str] = set()
    third_party: set[str] = set()
    todo = ["_sender"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        ours, others = _imports(module)
        third_party |= others
        todo += sorted(ours - seen)
    assert "_wiretypes" in seen and "_wire" not in seen
    assert "aiohttp" not in third_party


class Recorder:
    """A wire of a user's own: records each request, hands it to the default wire."""

    def __init__(self) -> None:
        self.inner = AiohttpWire()
        self.seen: list[Request] = []

    async def open(self) -> None:
        await self.inner.open()

    async def send(self, request: Request) -> Response:
        self.seen.append(request)
        return await self.inner.send(request)

    async def close(self) -> None:
        await self.inner.close()


async def test_a_wire_of_ones_own_plugs_into_the_client(server: FakeGlifServer) -> None:
    wire: Wire = Recorder()  # the protocol is structural: checked by mypy here
    async with aioglif.GlifClient(
        api_url=server.api_url, simple_api_url=server.simple_api_url, token=server.token, wire=wire
    ) as client:
        glif = await client.get_glif(server.data.public_glifs[0]["id"])
    assert glif.id == server.data.public_glifs[0]["id"]
    assert isinstance(wire, Recorder) and [r.method for r in wire.seen] == ["GET"]
