"""What a test, or a harness in another process, does to a running fake server: script faults,
read what was served (and a summary of it), change how listings behave; with the per-client
rate limiters and the churn those settings drive. Its own module: this is the fake's control
surface (the ``/_fake/`` routes among it), apart from how a request is served."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

from ._behaviour import Behaviour
from ._data import FakeData
from ._faults import Fault, Faults, RecordedRequest
from ._gate import Gate
from ._limits import Limiter, make_limiter
from ._records import Record
from ._rest import error


class ControlHandlers:
    """Faults, records and behaviour of :class:`FakeGlifServer`, which mixes this in."""

    data: FakeData
    faults: Faults
    behaviour: Behaviour
    requests: list[RecordedRequest]
    runs_started: int
    peak_in_flight: int
    listing_requests: int
    gate: Gate
    _script: deque[tuple[str | None, Mapping[str, str] | None, Fault]]
    _limiters: dict[str, Limiter]
    _rng: random.Random
    _churn_rng: random.Random
    _arranged: dict[tuple[Any, ...], list[Record]]
    _counts_at_start: dict[str, int]

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

    def _limiter(self, key: str) -> Limiter | None:
        f = self.faults
        if f.rate_limit is None:
            return None
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = make_limiter(f.limiter, f.rate_limit, burst=f.burst, window=f.window)
            self._limiters[key] = limiter
        return limiter

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
        self._limiters.clear()
        return web.json_response({"ok": True})

    async def _control_faults(self, request: web.Request) -> web.Response:
        try:
            self.faults = msgspec.convert(msgspec.json.decode(await request.read()), Faults)
        except msgspec.DecodeError as exc:
            return error(400, f"invalid faults: {exc}")
        self._rng = random.Random(self.faults.seed)
        return web.json_response(msgspec.to_builtins(self.faults))

    async def _control_inject(self, request: web.Request) -> web.Response:
        """``{"faults": [{"kind": "huge_body", "size": 1000}, ...], "path": "/api/glifs"}``."""
        try:
            body = msgspec.json.decode(await request.read(), type=_Injection)
        except msgspec.DecodeError as exc:
            return error(400, f"invalid injection: {exc}")
        self.inject(*body.faults, path=body.path, query=body.query)
        return web.json_response({"scripted": len(self._script)})

    async def _control_gate(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            after = msgspec.json.decode(await request.read()).get("after")
            if after is None:
                self.gate.open()
            else:
                self.gate.close_after(int(after))
        return web.json_response(self.gate.state())

    def set_behaviour(self, behaviour: Behaviour) -> None:
        """Change how listings behave; a stale run count is the count as of this moment."""
        self.behaviour = behaviour
        self._arranged.clear()
        self._counts_at_start = {g["id"]: g.get("completedSpellRunCount", 0) for g in self.data.glifs}
        self._churn_rng = random.Random(behaviour.seed)
        self.listing_requests = 0

    async def _control_behaviour(self, request: web.Request) -> web.Response:
        try:
            self.set_behaviour(msgspec.convert(msgspec.json.decode(await request.read()), Behaviour))
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return error(400, f"invalid behaviour: {exc}")
        return web.json_response(msgspec.to_builtins(self.behaviour))

    def _churn(self) -> None:
        """The changes the behaviour makes before this listing request is answered."""
        self.listing_requests += 1
        b, d, n, rng = self.behaviour, self.data, self.listing_requests, self._churn_rng
        if b.delete_glif_every and n % b.delete_glif_every == 0 and d.public_glifs:
            d.delete_glif(rng.choice(d.public_glifs)["id"])
        if b.delete_run_every and n % b.delete_run_every == 0 and d.public_runs:
            d.delete_run(rng.choice(d.public_runs)["id"])
        if b.insert_glif_every and n % b.insert_glif_every == 0 and d.users:
            d.add_glif()
        if b.insert_run_every and n % b.insert_run_every == 0 and d.public_glifs:
            d.add_run(rng.choice(d.public_glifs)["id"])


class _Injection(msgspec.Struct):
    faults: list[Fault]
    path: str | None = None
    query: dict[str, str] | None = None
