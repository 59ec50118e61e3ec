"""A small web service in front of Glif: one GlifClient for the life of the application.

    python examples/service.py --port 8080
    curl localhost:8080/glifs/GLIF_ID          # its name and inputs
    curl -d '{"topic": "otters"}' localhost:8080/glifs/GLIF_ID/run

The shape is FastAPI's "lifespan" (the client opened at start-up, closed at shutdown, shared by
every request), built on aiohttp's web server so that it needs nothing beyond aioglif. One
client means one connection pool, one rate limiter and one 429 pause for the whole service.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import msgspec
from aiohttp import web

from aioglif import GlifClient, NotFoundError, RateLimitedError, RunFailedError
from aioglif.graph import inputs

CLIENT = web.AppKey("client", GlifClient)
_INPUTS = msgspec.json.Decoder(dict[str, str])


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    async with GlifClient(rate=5.0) as client:
        app[CLIENT] = client
        yield


async def describe(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    try:
        glif = await client.get_glif(request.match_info["glif_id"])
    except NotFoundError:
        raise web.HTTPNotFound(text="no such glif") from None
    specs = inputs(glif.data) if glif.data is not None else []
    body: dict[str, object] = {
        "id": glif.id,
        "name": glif.name,
        "by": glif.user.username if glif.user is not None else None,
        "inputs": [{"name": s.name, "label": s.label, "default": s.default} for s in specs],
    }
    return web.json_response(body)


async def run(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    try:
        given = _INPUTS.decode(await request.read())
    except msgspec.DecodeError:
        raise web.HTTPBadRequest(text="send a JSON object of input names to strings") from None
    try:
        result = await client.run_glif(request.match_info["glif_id"], given)
    except NotFoundError:
        raise web.HTTPNotFound(text="no such glif") from None
    except RunFailedError as exc:
        return reply({"error": exc.result.error}, status=502)
    except RateLimitedError as exc:
        wait = str(int(exc.retry_after or 1))
        raise web.HTTPTooManyRequests(headers={"Retry-After": wait}) from None
    if result.nsfw_filtered:
        return reply({"error": "the output was blocked by Glif's NSFW filter"}, status=422)
    price = str(result.price) if result.price is not None else None
    return reply({"output": result.output, "price": price})


def reply(body: dict[str, object], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/glifs/{glif_id}", describe)
    app.router.add_post("/glifs/{glif_id}/run", run)
    return app


class Options(argparse.Namespace):
    port: int


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a web service holding one GlifClient")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv, namespace=Options())
    web.run_app(make_app(), host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
