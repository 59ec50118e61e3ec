from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web
from hypothesis import settings

from aioglif import GlifClient, RetryPolicy
from aioglif.testing import FakeData, FakeGlifServer

# CI gets one run: property tests there replay the same examples every time, so a
# counterexample shows up on a developer's machine (random there), never as a flaky CI run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Fast retries: the tests check how often and when we retry, not how long real backoff takes.
FAST_RETRY = RetryPolicy(attempts=4, initial=0.01, maximum=0.05, max_elapsed=20.0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def dataset() -> FakeData:
    return FakeData.generate(seed=7, users=8, glifs=120, runs=900, spheres=3)


@pytest.fixture
async def server() -> AsyncIterator[FakeGlifServer]:
    # A fresh dataset per test: some tests create glifs and runs.
    data = FakeData.generate(seed=7, users=8, glifs=120, runs=900, spheres=3)
    async with FakeGlifServer(data) as srv:
        yield srv


def make_client(server: FakeGlifServer, **kwargs: object) -> GlifClient:
    options: dict[str, object] = {
        "api_url": server.api_url,
        "simple_api_url": server.simple_api_url,
        "rate": None,
        "retry": FAST_RETRY,
    }
    options.update(kwargs)
    token = options.pop("token", server.token)
    return GlifClient(token, **options)  # type: ignore[arg-type]


@pytest.fixture
async def runs_server() -> AsyncIterator[FakeGlifServer]:
    """Credits for every run a dispatch test can make; runs take a moment, so they overlap."""
    data = FakeData.generate(seed=11, users=4, glifs=40, runs=20, spheres=0)
    data.credits = dict.fromkeys(data.credits, Decimal(10_000))
    async with FakeGlifServer(data) as server:
        server.faults.run_latency = 0.01
        yield server


@pytest.fixture
async def client(server: FakeGlifServer) -> AsyncIterator[GlifClient]:
    async with make_client(server) as c:
        yield c


async def until(condition: Callable[[], bool], *, limit: float = 60.0) -> None:
    """Wait for progress, not for time: ``limit`` only ends a hang, it never paces a test."""
    with anyio.fail_after(limit):
        # Polled: the conditions are counters of the fake server and the client, with no event.
        while not condition():  # noqa: ASYNC110
            await anyio.sleep(0.001)


def bytes_held_by(exc: BaseException) -> int:
    """Bytes that the frames of an exception's traceback (and of its causes) keep alive."""
    seen: set[int] = set()
    total = 0
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        todo += [current.__cause__, current.__context__]
        tb = current.__traceback__
        while tb is not None:
            for value in tb.tb_frame.f_locals.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, (bytes, bytearray)):
                        total += len(item)
            tb = tb.tb_next
    return total


class Pipe:
    """A named pipe fed ``size`` bytes without a newline and then held open (never an end), until
    the test lets go: a reader that waits for the end of it waits until then."""

    def __init__(self, path: Path, size: int) -> None:
        os.mkfifo(path)
        self.path, self.size = path, size
        self.release, self.closed = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    def _feed(self) -> None:
        with contextlib.suppress(BrokenPipeError), open(self.path, "wb") as f:
            f.write(b"[" * self.size)
            f.flush()
            self.release.wait(30)  # only against a hang: the test lets go at once when done
            self.closed.set()

    def __enter__(self) -> Pipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._thread.join(5)


@contextlib.asynccontextmanager
async def serve(
    routes: Mapping[str, Callable[[web.Request], Awaitable[web.StreamResponse]]],
) -> AsyncIterator[str]:
    """A small aiohttp server of a test's own on 127.0.0.1 (GET routes): its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def sqlite(path: str | os.PathLike[str], **kwargs: Any) -> Iterator[sqlite3.Connection]:
    """A connection committed at the end of the block and closed: ``with sqlite3.connect()``
    commits but never closes, and Python 3.13 reports each such connection (a ResourceWarning,
    an error under this suite's warnings filter) wherever the collector happens to find it."""
    db = sqlite3.connect(path, **kwargs)
    try:
        with db:
            yield db
    finally:
        db.close()
