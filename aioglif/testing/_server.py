"""The fake Glif server: an aiohttp.web application serving the Glif API from :class:`FakeData`.

It answers like the real API as far as the evidence goes (bare arrays, ``[]`` for unknown ids,
1-based ``page``, ``limit`` default 20 capped at 100, bearer tokens, the Simple API's
200-with-``error``), records every request, and injects faults on demand: a rate limit with
``Retry-After``, latency, 5xx, dropped connections, truncated bodies, redirects.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import format_datetime
from typing import Any, Literal

import msgspec
from aiohttp import web

from ..graph import validate as validate_graph
from ..models import Graph
from ._data import FakeData, Record, iso

__all__ = ["Fault", "FakeGlifServer", "Faults", "RecordedRequest"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Newer aiohttp warns about plain string keys in request storage.
_USER: Any = web.RequestKey("user", object) if hasattr(web, "RequestKey") else "user"
_INPUT_TYPES = ("TextInputBlock", "MultipickBlock", "ImageInputBlock")


@dataclass
class Faults:
    """Random faults, applied to every request; change them while the server runs."""

    latency: float = 0.0  # seconds added before each answer
    latency_jitter: float = 0.0  # plus up to this many seconds more, at random: answers reorder
    run_latency: float = 0.0  # seconds every Simple API run takes, at least
    # A run of a glif takes its averageDuration times this, ±20% at random: 0.001 turns a glif
    # of 30 s into 30 ms. 0: runs take only run_latency.
    run_time_scale: float = 0.0
    run_failure_rate: float = 0.0  # fraction of runs that fail (200 with "error")
    max_concurrent_runs: int | None = None  # per token; beyond it a run is answered 429
    rate_limit: float | None = None  # requests per second per token (or per client without one)
    burst: int = 1  # requests the rate limit lets through at once
    retry_after: Literal["seconds", "date", "none"] = "seconds"
    error_rate: float = 0.0  # fraction answered 500/502/503/504
    drop_rate: float = 0.0  # fraction whose connection is closed without an answer
    truncate_rate: float = 0.0  # fraction whose body is cut short and the connection closed
    seed: int = 0


@dataclass(frozen=True)
class Fault:
    """A scripted fault for the next matching request (see :meth:`FakeGlifServer.inject`)."""

    kind: Literal["status", "drop", "truncate", "invalid_json", "redirect", "delay"]
    status: int = 503
    retry_after: str | None = None
    location: str | None = None
    body: bytes | None = None
    seconds: float = 0.0

    @classmethod
    def answer(
        cls, status: int, *, retry_after: str | float | None = None, body: bytes | None = None
    ) -> Fault:
        return cls("status", status, None if retry_after is None else str(retry_after), body=body)

    @classmethod
    def drop(cls) -> Fault:
        return cls("drop")

    @classmethod
    def truncate(cls) -> Fault:
        return cls("truncate")

    @classmethod
    def invalid_json(cls) -> Fault:
        return cls("invalid_json")

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        return cls("redirect", status, location=location)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Answer normally, but only after ``seconds``: reorders concurrent answers on purpose."""
        return cls("delay", seconds=seconds)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: bytes
    time: float
    status: int = 0  # 0: no answer (dropped)
    fault: str | None = None
    empty: bool = False  # answered 200 with an empty array: a page past the end


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class FakeGlifServer:
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
        self._buckets: dict[str, _Bucket] = {}
        self._rng = random.Random(self.faults.seed)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._middleware])
        r = self.app.router
        r.add_get("/api/glifs", self._glifs)
        r.add_post("/api/glifs", self._create_glif)
        r.add_get("/api/runs", self._runs)
        r.add_get("/api/user", self._user)
        r.add_get("/api/me", self._me)
        r.add_get("/api/spheres", self._spheres)
        r.add_post("/simple", self._run)
        r.add_post("/simple/{id}", self._run)
        # Control routes for harnesses in another process (benchmarks); never part of the API.
        r.add_get("/_fake/stats", self._control_stats)
        r.add_post("/_fake/reset", self._control_reset)
        r.add_post("/_fake/faults", self._control_faults)

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

    # --- faults and records ----------------------------------------------------------------

    def inject(self, *faults: Fault, path: str | None = None, query: Mapping[str, str] | None = None) -> None:
        """Script faults for the next requests whose path starts with ``path`` (any, if None)
        and whose query holds the ``query`` items (e.g. ``{"page": "2"}``)."""
        self._script.extend((path, query, f) for f in faults)

    def served(self, path: str | None = None, *, status: int | None = None) -> list[RecordedRequest]:
        """The recorded requests, optionally only those to ``path`` or answered ``status``."""
        return [
            r
            for r in self.requests
            if (path is None or r.path == path) and (status is None or r.status == status)
        ]

    def _take_fault(self, path: str, query: Mapping[str, str]) -> Fault | None:
        for i, (prefix, want, fault) in enumerate(self._script):
            if (prefix is None or path.startswith(prefix)) and all(
                query.get(k) == v for k, v in (want or {}).items()
            ):
                del self._script[i]
                return fault
        f, rng = self.faults, self._rng
        if f.drop_rate and rng.random() < f.drop_rate:
            return Fault.drop()
        if f.error_rate and rng.random() < f.error_rate:
            return Fault.answer(rng.choice((500, 502, 503, 504)))
        if f.truncate_rate and rng.random() < f.truncate_rate:
            return Fault.truncate()
        return None

    def _rate_limited(self, key: str) -> float | None:
        """Seconds until the next request is allowed, or None if this one may pass."""
        rate = self.faults.rate_limit
        if rate is None:
            return None
        now = time.monotonic()
        burst = max(1, self.faults.burst)
        b = self._buckets.setdefault(key, _Bucket(float(burst), now))
        b.tokens = min(float(burst), b.tokens + (now - b.stamp) * rate)
        b.stamp = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return None
        return (1.0 - b.tokens) / rate

    def _retry_after_header(self, wait: float) -> dict[str, str]:
        form = self.faults.retry_after
        if form == "none":
            return {}
        if form == "date":
            when = datetime.now(timezone.utc) + timedelta(seconds=math.ceil(wait) + 1)
            return {"Retry-After": format_datetime(when, usegmt=True)}
        return {"Retry-After": str(max(1, math.ceil(wait)))}

    def summary(self) -> dict[str, Any]:
        """Counts over the recorded requests: what a benchmark reports about a client."""
        statuses: dict[str, int] = {}
        repeats, seen = 0, set()
        for r in self.requests:
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
            if r.status == 200:
                key = (r.method, r.path, tuple(sorted(r.query.items())))
                repeats += key in seen
                seen.add(key)
        first = self.requests[0].time if self.requests else 0.0
        last = self.requests[-1].time if self.requests else 0.0
        # Requests per second over the middle 80% of arrivals: the pace once ramped up.
        times = sorted(r.time for r in self.requests)
        lo, hi = int(len(times) * 0.1), int(len(times) * 0.9)
        steady = (hi - lo) / (times[hi] - times[lo]) if hi > lo and times[hi] > times[lo] else 0.0
        return {
            "requests": len(self.requests),
            "statuses": statuses,
            "rate_limited": statuses.get("429", 0),
            "empty_pages": sum(r.empty for r in self.requests),
            "repeats": repeats,
            "span": last - first,
            "steady_rate": steady,
            "runs_started": self.runs_started,
            "peak_in_flight": self.peak_in_flight,
        }

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.summary())

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.requests.clear()
        self.runs_started = 0
        self.peak_in_flight = 0
        self._buckets.clear()
        return web.json_response({"ok": True})

    async def _control_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults = msgspec.convert(msgspec.json.decode(await request.read()), Faults)
        except msgspec.DecodeError as exc:
            return _error(400, f"invalid faults: {exc}")
        self._rng = random.Random(self.faults.seed)
        return web.json_response(msgspec.to_builtins(self.faults))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_fake/"):
            return await handler(request)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._serve(request, handler)
        finally:
            self.in_flight -= 1

    async def _serve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        rec = RecordedRequest(
            request.method, request.path, dict(request.query), auth, await request.read(), time.monotonic()
        )
        self.requests.append(rec)
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        wait = self._rate_limited(token or request.remote or "")
        if wait is not None:
            rec.status, rec.fault = 429, "rate_limit"
            return _error(429, "Too many requests", self._retry_after_header(wait))
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
            if fault.kind == "drop":
                _close(request)
                return web.Response(status=500)  # never reaches the client
            if fault.kind == "status":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                rec.status = fault.status
                if fault.body is not None:
                    return web.Response(status=fault.status, body=fault.body, headers=headers)
                return _error(fault.status, f"injected {fault.status}", headers)
            if fault.kind == "redirect":
                rec.status = fault.status
                assert fault.location is not None
                return web.Response(status=fault.status, headers={"Location": fault.location})
        if auth is not None and (token is None or token not in (self.tokens or {})):
            rec.status = 401
            return _error(401, "Invalid API token")
        request[_USER] = self.data.users.get((self.tokens or {})[token]) if token else None
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = _error(exc.status, exc.reason)
        rec.status = response.status
        rec.empty = isinstance(response, web.Response) and response.body == b"[]"
        if fault is not None and isinstance(response, web.Response) and response.body:
            body = bytes(response.body)  # type: ignore[arg-type]
            if fault.kind == "invalid_json":
                return web.Response(status=200, body=body[: len(body) // 2], content_type="application/json")
            if fault.kind == "truncate":
                return await _truncated(request, body)
        return response

    # --- REST handlers ---------------------------------------------------------------------

    async def _glifs(self, request: web.Request) -> web.Response:
        q, d, user = request.query, self.data, request[_USER]
        graph = q.get("includes") == "spells.data"
        if "id" in q:
            g = d.glif_by_id.get(q["id"])
            visible = g is not None and (g.get("publishedAt") or (user and user["id"] == g["userId"]))
            return _array([d.glif_json(g, graph=True)] if visible and g else [])
        items: list[Record]
        user_id = q.get("userId")
        if "username" in q:
            found = d.user_by_name.get(q["username"])
            user_id = found["id"] if found else "-"
        if user_id is not None:
            items = d.glifs_by_user.get(user_id, [])
            if q.get("featured") == "1":
                items = [g for g in items if g.get("featuredAt")]
        else:
            items = d.featured_glifs if q.get("featured") == "1" else d.public_glifs
        if q.get("q"):
            needle = q["q"].lower()
            items = [g for g in items if needle in (g["name"] + " " + (g.get("description") or "")).lower()]
        return _array([d.glif_json(g, graph=graph) for g in _page(request, items)])

    async def _create_glif(self, request: web.Request) -> web.Response:
        user = request[_USER]
        if user is None:
            return _error(401, "Unauthorized: a token is required")
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return _error(400, "Body is not valid JSON")
        problems = _create_problems(body)
        if problems:
            return _error(400, "Invalid glif: " + "; ".join(problems), problems=problems)
        glif = self.data.add_glif(
            user["id"],
            graph=body["graph"]["nodes"],
            name=body["name"],
            description=body.get("description") or "",
            published=bool(body.get("publishedAt")),
        )
        glif["output"] = glif["outputType"] = None
        glif["publishedAt"] = body.get("publishedAt")
        glif["_count"] = {"likes": 0, "comments": 0}
        glif["completedSpellRunCount"] = 0
        glif["averageDuration"] = None
        self.data.reindex()
        return web.Response(body=self.data.glif_json(glif, graph=True), content_type="application/json")

    async def _runs(self, request: web.Request) -> web.Response:
        q, d = request.query, self.data
        if "id" in q:
            run = d.run_by_id.get(q["id"])
            user = request[_USER]
            visible = run is not None and (
                run.get("visibility") == "PUBLIC" or (user and user["id"] == run["userId"])
            )
            return _array([d.run_json(run)] if visible and run else [])
        glif_id = q.get("glifId") or q.get("spellId")
        if glif_id is not None:
            items = d.runs_by_glif.get(glif_id, [])
        elif "userId" in q or "username" in q:
            found = d.users.get(q.get("userId", "")) or d.user_by_name.get(q.get("username", ""))
            items = d.runs_by_user.get(found["id"], []) if found else []
        else:
            items = d.public_runs
        return _array([d.run_json(r) for r in _page(request, items)])

    async def _user(self, request: web.Request) -> web.Response:
        q, d = request.query, self.data
        found = d.users.get(q["id"]) if "id" in q else d.user_by_name.get(q.get("username", ""))
        if not ("id" in q or "username" in q):
            return _error(400, "id or username is required")
        if found is None:
            return _error(404, "User not found")
        return web.json_response(found)

    async def _me(self, request: web.Request) -> web.Response:
        user = request[_USER]
        if user is None:
            return _error(401, "Unauthorized: a token is required")
        remaining = self.data.credits.get(user["id"], Decimal(0))
        return web.json_response(
            {
                "user": {**user, "staff": False, "isSubscriber": False, "rateLimitClass": "default"},
                "credits": {"remaining": float(remaining), "limit": 2000, "label": "daily"},
            }
        )

    async def _spheres(self, request: web.Request) -> web.Response:
        q, d = request.query, self.data
        key = "slug" if "slug" in q else "id" if "id" in q else None
        if key is None:
            return web.json_response([summary(s) for s in _page(request, d.spheres)])
        sphere = d.sphere_by.get((key, q[key]))
        graph = q.get("includes") == "spells.data"
        members = [d.glif_by_id[i] for i in sphere["glifIds"]] if sphere else []
        glifs = _array([d.glif_json(g, graph=graph) for g in _page(request, members)])
        if self.sphere_shape == "array":
            return glifs
        if sphere is None:
            return _error(404, "Sphere not found")
        head = msgspec.json.encode(summary(sphere))[:-1]
        return web.Response(body=head + b',"glifs":' + glifs.body + b"}", content_type="application/json")  # type: ignore[operator]

    # --- the Simple API --------------------------------------------------------------------

    async def _run(self, request: web.Request) -> web.Response:
        user = request[_USER]
        if user is None:
            return _error(401, "Unauthorized: the Simple API requires an API token")
        try:
            body = msgspec.json.decode(await request.read())  # parsed as JSON whatever the type
        except msgspec.DecodeError:
            return web.json_response({"error": "Request body is not valid JSON"})
        if not isinstance(body, dict):
            return web.json_response({"error": "Request body must be a JSON object"})
        glif = self.data.glif_by_id.get(request.match_info.get("id") or body.get("id") or "")
        if glif is None:
            return web.json_response({"error": "Glif not found"})
        inputs, problem = _normalise_inputs(
            glif, body.get("inputs", body.get("input")), request.query.get("strict") == "1"
        )
        if problem:
            return web.json_response({"error": problem})
        f = self.faults
        running = self._runs_in_flight.get(user["id"], 0)
        if f.max_concurrent_runs is not None and running >= f.max_concurrent_runs:
            return _error(429, "Too many runs in progress", {"Retry-After": "1"})
        self._runs_in_flight[user["id"]] = running + 1
        self.runs_started += 1
        try:
            seconds = f.run_latency
            if f.run_time_scale:
                base = (glif.get("averageDuration") or 10_000) / 1000 * f.run_time_scale
                seconds += base * self._rng.uniform(0.8, 1.2)
            if seconds:
                await asyncio.sleep(seconds)
        finally:
            self._runs_in_flight[user["id"]] -= 1
        if glif["id"] in self.failing_glifs or (
            f.run_failure_rate and self._rng.random() < f.run_failure_rate
        ):
            return web.json_response({"error": "Run failed: the model returned an error", "inputs": inputs})
        price = Decimal(len(glif["data"]["nodes"])) / 4 + Decimal("0.0000875")
        balance = self.data.credits.get(user["id"], Decimal(0))
        if balance < price:
            return web.json_response({"error": "Not enough credits"})
        self.data.credits[user["id"]] = balance - price
        output_type = glif.get("outputType") or "TEXT"
        output = " ".join(inputs.values()) if output_type == "TEXT" else self.data._output(output_type)
        public = str(body.get("visibility", "PRIVATE")).upper() == "PUBLIC"
        run = self.data.add_run(
            glif["id"], user["id"], public=public, inputs=inputs, output=output, price=price
        )
        nodes = [
            {"name": n["name"], "type": n["type"], "output": inputs.get(n["name"])}
            for n in glif["data"]["nodes"]
        ]
        return web.json_response(
            {
                "id": glif["id"],
                "runId": run["id"],
                "inputs": inputs,
                "output": output,
                "outputFull": {"type": output_type, "value": output},
                "price": str(price),
                "nodes": nodes,
            }
        )


def summary(sphere: Record) -> Record:
    return {k: v for k, v in sphere.items() if k != "glifIds"}


def _error(status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _array(items: list[bytes]) -> web.Response:
    return web.Response(body=b"[" + b",".join(items) + b"]", content_type="application/json")


def _page(request: web.Request, items: list[Record]) -> list[Record]:
    """The 1-based ``page`` of ``limit`` items (default 20, silently capped at 100)."""
    try:
        page = int(request.query.get("page", "1"))
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        raise web.HTTPBadRequest(reason="page and limit must be integers") from None
    if page < 1 or limit < 1:
        raise web.HTTPBadRequest(reason="page and limit must be positive")
    limit = min(limit, 100)
    return items[(page - 1) * limit : page * limit]


def _close(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def _truncated(request: web.Request, body: bytes) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    _close(request)
    return response


def _create_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = []
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        problems.append("name: must be a non-empty string")
    if not isinstance(body.get("description", ""), (str, type(None))):
        problems.append("description: must be a string")
    graph = body.get("graph")
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list):
        problems.append("graph: must be an object with a 'nodes' array")
        return problems
    try:
        parsed = msgspec.convert(graph, Graph)
    except msgspec.ValidationError as exc:
        problems.append(f"graph: {exc}")
    else:
        # The same rules as the client's, so a graph the client lets through is accepted.
        problems += [str(p) for p in validate_graph(parsed)]
    published = body.get("publishedAt")
    if published is not None:
        try:
            datetime.fromisoformat(str(published).replace("Z", "+00:00"))
        except ValueError:
            problems.append("publishedAt: must be an ISO 8601 date")
    return problems


def _normalise_inputs(glif: Record, given: Any, strict: bool) -> tuple[dict[str, str], str | None]:
    """Positional inputs re-keyed to block names; missing ones defaulted unless strict."""
    blocks = [n for n in glif["data"]["nodes"] if n["type"] in _INPUT_TYPES]
    names = [n["name"] for n in blocks]
    if given is None:
        given = {}
    if isinstance(given, str):
        given = [given]
    if isinstance(given, list):
        if len(given) > len(names):
            return {}, f"Too many inputs: the glif takes {len(names)}"
        given = dict(zip(names, given, strict=False))  # fewer values than blocks is allowed
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        return {}, "inputs must be a list of strings or an object of strings"
    unknown = sorted(set(given) - set(names))
    if unknown:
        return {}, f"Unknown input names: {', '.join(unknown)} (inputs are: {', '.join(names)})"
    missing = [n for n in names if n not in given]
    if strict and missing:
        return {}, f"Missing inputs in strict mode: {', '.join(missing)}"
    defaults = {n["name"]: str(n["params"].get("value", "")) for n in blocks}
    return {n: given.get(n, defaults[n]) for n in names}, None


_ = iso  # re-exported for users building their own records
