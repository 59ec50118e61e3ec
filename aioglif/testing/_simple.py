"""The fake Simple API: runs a glif, with run latency, a per-token run cap, failures and credits."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from ._data import FakeData, Record
from ._faults import Faults
from ._rest import USER, error

_INPUT_TYPES = ("TextInputBlock", "MultipickBlock", "ImageInputBlock")


class SimpleHandler:
    """The Simple API endpoint, mixed into :class:`FakeGlifServer`."""

    data: FakeData
    faults: Faults
    failing_glifs: set[str]
    runs_started: int
    _rng: random.Random
    _runs_in_flight: dict[str, int]

    async def _run(self, request: web.Request) -> web.Response:
        user = request[USER]
        if user is None:
            return error(401, "Unauthorized: the Simple API requires an API token")
        try:
            body = msgspec.json.decode(await request.read())  # parsed as JSON whatever the type
        except msgspec.DecodeError:
            return web.json_response({"error": "Request body is not valid JSON"})
        if not isinstance(body, dict):
            return web.json_response({"error": "Request body must be a JSON object"})
        glif = self.data.glif_by_id.get(request.match_info.get("id") or body.get("id") or "")
        if glif is None:
            return web.json_response({"error": "Glif not found"})
        strict = request.query.get("strict") == "1"
        inputs, problem = _normalise_inputs(glif, _given_inputs(glif, body), strict)
        if problem:
            return web.json_response({"error": problem})
        f = self.faults
        running = self._runs_in_flight.get(user["id"], 0)
        if f.max_concurrent_runs is not None and running >= f.max_concurrent_runs:
            return error(429, "Too many runs in progress", {"Retry-After": "1"})
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


CORS = {"Access-Control-Allow-Origin": "*"}
_CORS_PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "86400",
}


async def preflight(request: web.Request) -> web.Response:
    """The Simple API allows cross-origin calls (the other endpoints do not)."""
    return web.Response(status=204, headers=_CORS_PREFLIGHT)


def _given_inputs(glif: Record, body: Record) -> Any:
    """The inputs of a run request, in any form seen: ``inputs``, the 2023 ``input``, or named
    inputs as top-level keys (the seed's own example posts ``{"id": ..., "query": ...}``)."""
    if "inputs" in body:
        return body["inputs"]
    if "input" in body:
        return body["input"]
    names = {n["name"] for n in glif["data"]["nodes"] if n["type"] in _INPUT_TYPES}
    top = {k: v for k, v in body.items() if k in names}
    return top or None


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
