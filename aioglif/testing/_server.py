"""The fake Glif server: an aiohttp.web application serving the Glif API from :class:`FakeData`.

It answers like the real API as far as the evidence goes (bare arrays, ``[]`` for unknown ids,
1-based ``page``, ``limit`` default 20 capped at 100, bearer tokens, the Simple API's
200-with-``error``), records every request, and injects faults on demand: a rate limit with
``Retry-After``, latency, 5xx, dropped connections, truncated bodies, redirects.

The handlers live in :mod:`._rest` and :mod:`._simple`; the faults in :mod:`._faults`; what a
test does to a running server (script faults, read requests, change behaviour) in :mod:`._control`.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from . import _hostile as hostile
from ._behaviour import Behaviour
from ._control import ControlHandlers
from ._data import FakeData, iso
from ._faults import Fault, Faults, RecordedRequest
from ._gate import Gate
from ._limits import Limiter, Verdict, rate_limit_headers, retry_after_header
from ._memory import capture_of
from ._rest import USER, RestHandlers, error
from ._simple import CORS, SimpleHandler, preflight

__all__ = ["Fault", "FakeGlifServer", "Faults", "RecordedRequest"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeGlifServer(RestHandlers, SimpleHandler, ControlHandlers):
    """A fake Glif API on 127.0.0.1. ``async with FakeGlifServer() as server:`` then point a client
    at ``server.api_url`` and ``server.simple_api_url`` with ``server.token``.
    """

    data: FakeData = field(default_factory=FakeData.generate)
    tokens: Mapping[str, str] | None = None  # token -> user id; default: "fake-token" for the first user
    faults: Faults = field(default_factory=Faults)
    sphere_shape: Literal["object", "array"] = "object"
    host: str = "127.0.0.1"
    port: int = 0
    failing_glifs: set[str] = field(default_factory=set)  # Simple API runs of these fail
    # Refuse run inputs the glif does not have (unknown names, surplus positional values)
    # instead of ignoring them, as the evidence suggests the real API does.
    strict_inputs: bool = False
    # How listings behave: order, page size served, page numbering, churn, run counts.
    behaviour: Behaviour = field(default_factory=Behaviour)
    # /api/bots without ``sort``: the official client's descriptions say popular and featured.
    bots_default_sort: Literal["popular", "featured", "new"] = "popular"

    def __post_init__(self) -> None:
        if self.tokens is None:
            first = next(iter(self.data.users), None)
            self.tokens = {"fake-token": first} if first else {}
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self._runs_in_flight: dict[str, int] = {}
        self.runs_started = 0  # Simple API runs that began (a 429 for the run cap is not one)
        self.peak_in_flight = 0  # most requests handled at once: checks a client's concurrency cap
        self._script: deque[tuple[str | None, Mapping[str, str] | None, Fault]] = deque()
        self._limiters: dict[str, Limiter] = {}
        self._rng = random.Random(self.faults.seed)
        self.gate = Gate()  # holds requests after N, for tests that interrupt a client by progress
        self._arranged: dict[tuple[Any, ...], list[Any]] = {}
        self._counts_at_start = {g["id"]: g.get("completedSpellRunCount", 0) for g in self.data.glifs}
        self.listing_requests = 0  # listing requests served: churn acts on every N-th
        self._churn_rng = random.Random(self.behaviour.seed)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._middleware])
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "/api/glifs", self._glifs),
            ("POST", "/api/glifs", self._create_glif),
            ("GET", "/api/runs", self._runs),
            ("GET", "/api/user", self._user),
            ("GET", "/api/users/{id}", self._user),  # the official MCP client's form
            ("GET", "/api/me", self._me),
            ("GET", "/api/spheres", self._spheres),
            ("GET", "/api/bots", self._bots),
            ("POST", "/simple", self._run),
            ("POST", "/simple/{id}", self._run),
            ("OPTIONS", "/simple", preflight),
            ("OPTIONS", "/simple/{id}", preflight),
        ]
        for method, path, handler in routes:
            # A trailing slash is the same URL (public code posts to the Simple API with one).
            self.app.router.add_route(method, path, handler)
            self.app.router.add_route(method, path + "/", handler)
        r = self.app.router
        # Control routes for harnesses in another process (benchmarks); never part of the API.
        r.add_get("/_fake/stats", self._control_stats)
        r.add_post("/_fake/reset", self._control_reset)
        r.add_post("/_fake/faults", self._control_faults)
        r.add_get("/_fake/gate", self._control_gate)
        r.add_post("/_fake/inject", self._control_inject)
        r.add_post("/_fake/gate", self._control_gate)
        r.add_post("/_fake/behaviour", self._control_behaviour)

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """A valid token (the first one configured)."""
        assert self.tokens
        return next(iter(self.tokens))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def simple_api_url(self) -> str:
        return f"{self.url}/simple"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGlifServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_fake/"):
            return await handler(request)
        # The request is read whole before the gate: a request held there was received, so a
        # run held and then left by its client still runs when the gate opens, as on a real
        # server (a client that gives a run up may still pay for it).
        await request.read()
        await self.gate.passage()
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            response = await self._limited(request, handler)
        finally:
            self.in_flight -= 1
        if request.path.startswith("/simple") and not response.prepared:
            response.headers.update(CORS)  # errors too: a browser must be able to read them
        return response

    async def _limited(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        limiter = self._limiter(token or request.remote or "")
        if limiter is None:
            return await self._serve(request, handler, None)
        verdict = limiter.admit(time.monotonic())
        try:
            response = await self._serve(request, handler, verdict)
        finally:
            if verdict.allowed:
                limiter.release()
        if self.faults.rate_limit_headers and not response.prepared:
            response.headers.update(rate_limit_headers(verdict))
        return response

    async def _serve(
        self, request: web.Request, handler: Handler, verdict: Verdict | None
    ) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        rec = RecordedRequest(
            request.method, request.path, dict(request.query), auth, await request.read(), time.monotonic()
        )
        self.requests.append(rec)
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        if verdict is not None and not verdict.allowed:
            rec.status, rec.fault = 429, "rate_limit"
            return error(
                429, "Too many requests", retry_after_header(verdict, self.faults.retry_after, time.time())
            )
        f = self.faults
        if f.latency or f.latency_jitter:
            await asyncio.sleep(
                f.latency + (self._rng.uniform(0, f.latency_jitter) if f.latency_jitter else 0)
            )
        fault = self._take_fault(request.path, request.query)
        if fault is not None:
            rec.fault = fault.kind
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            if fault.kind == "hold" and fault.until is not None:
                await fault.until.wait()
            if fault.kind == "drop":
                _close(request)
                return web.Response(status=500)  # never reaches the client
            if fault.kind == "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                rec.status = fault.status
                if fault.body is not None:
                    return web.Response(status=fault.status, body=fault.body, headers=headers)
                return error(fault.status, f"injected {fault.status}", headers)
            if fault.kind == "redirect":
                rec.status = fault.status
                assert fault.location is not None
                return web.Response(status=fault.status, headers={"Location": fault.location})
            if fault.kind in hostile.BEFORE:
                rec.status = fault.status
                return await stream(request, hostile.replace(fault, auth))
        if request.method == "OPTIONS":  # a CORS preflight carries no token
            response = await handler(request)
            rec.status = response.status
            return response
        if auth is not None and (token is None or token not in (self.tokens or {})):
            rec.status = 401
            return error(401, "Invalid API token")
        if (
            self.behaviour.churns
            and request.method == "GET"
            and request.path in ("/api/glifs", "/api/runs")
            and "id" not in request.query
        ):
            self._churn()
        request[USER] = self.data.users.get((self.tokens or {})[token]) if token else None
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = error(exc.status, exc.reason)
        rec.status = response.status
        rec.empty = isinstance(response, web.Response) and response.body == b"[]"
        if fault is not None and isinstance(response, web.Response) and response.body:
            body = bytes(response.body)  # type: ignore[arg-type]
            if fault.kind in hostile.AFTER:
                return await stream(request, hostile.alter(fault, response.status, response.headers, body))
            if fault.kind == "invalid_json":
                return web.Response(status=200, body=body[: len(body) // 2], content_type="application/json")
            if fault.kind == "truncate":
                return await _truncated(request, body)
        return response

    # --- REST handlers ---------------------------------------------------------------------


async def stream(request: web.Request, answer: hostile.Answer) -> web.StreamResponse:
    """Send a planned answer chunk by chunk; a client that hangs up ends it quietly."""
    capture = capture_of(request)
    if capture is not None:  # the in-memory wire streams it to its client itself
        capture.answer = answer
        return web.Response(status=answer.status)
    response = web.StreamResponse(status=answer.status, headers=answer.headers)
    if answer.length is not None:
        response.content_length = answer.length
    try:
        await response.prepare(request)
        for chunk in answer.chunks:
            if answer.interval:
                await asyncio.sleep(answer.interval)
            await response.write(chunk)
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        _close(request)  # the client went away (its cap or its deadline): nothing to finish
    return response


def _close(request: web.Request) -> None:
    capture = capture_of(request)
    if capture is not None:
        capture.closed = True
    if request.transport is not None:
        request.transport.close()


async def _truncated(request: web.Request, body: bytes) -> web.StreamResponse:
    if capture_of(request) is not None:
        half = hostile.Answer(200, {"Content-Type": "application/json"}, iter([body[: len(body) // 2]]))
        response = await stream(request, half)
        _close(request)
        return response
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    _close(request)
    return response


_ = iso  # re-exported for users building their own records
