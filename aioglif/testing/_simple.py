"""The fake Simple API: runs a glif, with run latency, a per-token run cap, failures and credits."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import msgspec
from aiohttp import web

from ._data import FakeData
from ._evidence import run_inputs
from ._faults import Faults
from ._rest import USER, error


class SimpleHandler:
    """The Simple API endpoint, mixed into :class:`FakeGlifServer`."""

    data: FakeData
    faults: Faults
    failing_glifs: set[str]
    strict_inputs: bool
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
        f = self.faults
        glif = self.data.glif_by_id.get(request.match_info.get("id") or body.get("id") or "")
        if glif is None:
            return _refuse(f, 404, "Glif not found")
        inputs, problem = run_inputs(
            glif["data"]["nodes"],
            body,
            strict=request.query.get("strict") == "1",
            strict_inputs=self.strict_inputs,
        )
        if problem:
            return web.json_response({"error": problem})
        said = f.run_prices[min(self.runs_started, len(f.run_prices) - 1)] if f.run_prices else f.run_price
        try:
            price = (
                Decimal(said)
                if said is not None
                else Decimal(len(glif["data"]["nodes"])) / 4 + Decimal("0.0000875")
            )
        except ArithmeticError:  # not a number at all: said as it is, costs nothing here
            price = Decimal("NaN")
        cost = price if price.is_finite() and price > 0 else Decimal(0)
        if self.data.credits.get(user["id"], Decimal(0)) < cost:
            return _refuse(f, 402, "Not enough credits")  # checked before the run starts
        running = self._runs_in_flight.get(user["id"], 0)
        if f.max_concurrent_runs is not None and running >= f.max_concurrent_runs:
            return _refuse(f, 429, "Too many concurrent runs: wait for one to finish", {"Retry-After": "1"})
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
        # Charged when the run succeeds (may overdraw a little when runs overlap, as a fake).
        self.data.credits[user["id"]] = self.data.credits.get(user["id"], Decimal(0)) - cost
        output_type = glif.get("outputType") or "TEXT"
        output = " ".join(inputs.values()) if output_type == "TEXT" else self.data._output(output_type)
        answer: object = output
        if f.run_output == "list":
            answer = [output]
        elif f.run_output == "object":
            answer = {"value": output, "extra": [1, 2]}
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
                "output": answer,
                "outputFull": {"type": output_type, "value": output, "width": 512},
                "price": said if said is not None else str(price),
                "nodes": nodes,
            }
        )


def _refuse(f: Faults, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    if f.simple_errors == "status":
        return error(status, message, headers)
    return web.json_response({"error": message})


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
