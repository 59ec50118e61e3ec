"""The contenders, each written the way its users usually write it.

1. ``requests`` + ``json``: a sequential loop, one page after another.
2. ``httpx.AsyncClient`` + ``asyncio.gather`` + pydantic models: batches of pages at once.
3. ``aiohttp`` + stdlib ``json`` + a semaphore: batches of pages, the semaphore bounding them.
4. aioglif.

Every contender lists until a short page, and sleeps for ``Retry-After`` on a 429 (what users
add after their first 429), so that all of them finish the same job.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

Job = dict[str, Any]
# A contender's scenario function: job in, number of items listed out.
Runner = Callable[[Job], int]


# --- 1. requests + json, sequential ------------------------------------------------------------


def _requests_pages(session: Any, url: str, params: dict[str, Any], page_size: int) -> int:
    total, page = 0, 1
    while True:
        r = session.get(url, params={**params, "page": page, "limit": page_size}, timeout=60)
        if r.status_code == 429:
            time.sleep(float(r.headers.get("Retry-After", 1)))
            continue
        r.raise_for_status()
        items = r.json()
        total += len(items)
        if len(items) < page_size:
            return total
        page += 1


def requests_list(job: Job) -> int:
    import requests

    with requests.Session() as s:
        return _requests_pages(s, job["url"], job["params"], job["page_size"])


def requests_small(job: Job) -> int:
    import requests

    with requests.Session() as s:
        return sum(
            _requests_pages(s, job["url"], {"glifId": g["id"]}, job["page_size"]) for g in job["glifs"]
        )


# --- 2. httpx + asyncio.gather + pydantic ------------------------------------------------------


def _pydantic_models() -> tuple[type, type]:
    from pydantic import BaseModel, ConfigDict, Field
    from pydantic.alias_generators import to_camel

    class Model(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    class User(Model):
        id: str
        name: str | None = None
        username: str | None = None
        image: str | None = None

    class Node(Model):
        name: str
        type: str
        params: dict[str, Any] = Field(default_factory=dict)

    class Graph(Model):
        nodes: list[Node] = Field(default_factory=list)

    class Counts(Model):
        likes: int | None = None
        comments: int | None = None

    class Glif(Model):
        id: str
        name: str | None = None
        description: str | None = None
        image_url: str | None = None
        created_at: str | None = None
        updated_at: str | None = None
        published_at: str | None = None
        output: str | None = None
        output_type: str | None = None
        user_id: str | None = None
        user: User | None = None
        completed_spell_run_count: int | None = None
        average_duration: float | None = None
        count: Counts | None = Field(default=None, alias="_count")
        data: Graph | None = None

    class Spell(Model):
        id: str
        name: str | None = None

    class Run(Model):
        id: str
        created_at: str | None = None
        output: str | None = None
        output_type: str | None = None
        user_id: str | None = None
        spell_id: str | None = None
        inputs: dict[str, Any] | None = None
        total_selling_price_credits: str | None = None
        user: User | None = None
        spell: Spell | None = None

    return Glif, Run


async def _httpx_get(client: Any, url: str, params: dict[str, Any], model: type) -> list[Any]:
    while True:
        r = await client.get(url, params=params)
        if r.status_code == 429:
            await asyncio.sleep(float(r.headers.get("Retry-After", 1)))
            continue
        r.raise_for_status()
        return [model.model_validate(item) for item in r.json()]  # type: ignore[attr-defined]


def httpx_list(job: Job) -> int:
    import httpx

    glif_model, run_model = _pydantic_models()
    model = run_model if "runs" in job["url"] else glif_model

    async def main() -> int:
        batch, size, total, page = job["concurrency"], job["page_size"], 0, 1
        async with httpx.AsyncClient(timeout=60) as client:
            while True:
                pages = await asyncio.gather(
                    *(
                        _httpx_get(
                            client, job["url"], {**job["params"], "page": page + i, "limit": size}, model
                        )
                        for i in range(batch)
                    )
                )
                for items in pages:
                    total += len(items)
                    if len(items) < size:
                        return total
                page += batch

    return asyncio.run(main())


def httpx_small(job: Job) -> int:
    import httpx

    _, run_model = _pydantic_models()
    size = job["page_size"]
    # The usual gather: every page a glif could have (the largest count says how many), at once.
    guess = max(1, -(-max(g["count"] for g in job["glifs"]) // size))

    async def main() -> int:
        limits = httpx.Limits(max_connections=job["concurrency"])
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            pages = await asyncio.gather(
                *(
                    _httpx_get(client, job["url"], {"glifId": g["id"], "page": p, "limit": size}, run_model)
                    for g in job["glifs"]
                    for p in range(1, guess + 1)
                )
            )
        return sum(len(items) for items in pages)

    return asyncio.run(main())


# --- 3. aiohttp + json + semaphore -------------------------------------------------------------


async def _aiohttp_get(session: Any, sem: asyncio.Semaphore, url: str, params: dict[str, Any]) -> list[Any]:
    async with sem:
        while True:
            async with session.get(url, params=params) as r:
                if r.status != 429:
                    r.raise_for_status()
                    return json.loads(await r.read())  # type: ignore[no-any-return]
                wait = float(r.headers.get("Retry-After", 1))
            await asyncio.sleep(wait)


def aiohttp_list(job: Job) -> int:
    import aiohttp

    async def main() -> int:
        sem = asyncio.Semaphore(job["concurrency"])
        batch, size, total, page = job["concurrency"] * 2, job["page_size"], 0, 1
        async with aiohttp.ClientSession() as session:
            while True:
                pages = await asyncio.gather(
                    *(
                        _aiohttp_get(
                            session, sem, job["url"], {**job["params"], "page": page + i, "limit": size}
                        )
                        for i in range(batch)
                    )
                )
                for items in pages:
                    total += len(items)
                    if len(items) < size:
                        return total
                page += batch

    return asyncio.run(main())


def aiohttp_small(job: Job) -> int:
    import aiohttp

    async def main() -> int:
        sem = asyncio.Semaphore(job["concurrency"])
        size = job["page_size"]
        async with aiohttp.ClientSession() as session:

            async def one(glif_id: str) -> int:
                total, page = 0, 1
                while True:
                    items = await _aiohttp_get(
                        session, sem, job["url"], {"glifId": glif_id, "page": page, "limit": size}
                    )
                    total += len(items)
                    if len(items) < size:
                        return total
                    page += 1

            return sum(await asyncio.gather(*(one(g["id"]) for g in job["glifs"])))

    return asyncio.run(main())


# --- 4. aioglif --------------------------------------------------------------------------------


def _aioglif(job: Job, body: Callable[[Any], Awaitable[int]]) -> int:
    import anyio

    from aioglif import GlifClient

    async def main() -> int:
        async with GlifClient(
            api_url=job["api_url"],
            rate=job.get("rate"),
            max_in_flight=max(16, job["concurrency"]),
            page_concurrency=job["concurrency"],
        ) as client:
            count = await body(client)
            job["client_stats"] = client.stats.snapshot()
            return count

    return anyio.run(main)


def aioglif_list(job: Job) -> int:
    async def body(client: Any) -> int:
        if "runs" in job["url"]:
            listing = client.runs(page_size=job["page_size"], max_items=job.get("max_items"))
        else:
            listing = client.glifs(
                include_graph=job["params"].get("includes") == "spells.data",
                featured=job["params"].get("featured") == "1",
                page_size=job["page_size"],
                max_items=job.get("max_items"),
            )
        n = 0
        async for _item in listing:
            n += 1
        job["listing_stats"] = listing.stats.snapshot()
        return n

    return _aioglif(job, body)


def aioglif_small(job: Job) -> int:
    import anyio

    async def body(client: Any) -> int:
        counts = [0]
        glifs = iter(job["glifs"])

        async def worker() -> None:
            # Many small listings: each sequential, a pool of workers taking the next glif; the
            # count plans each one (a glif without runs costs no request at all).
            for glif in glifs:
                listing = client.runs(
                    glif_id=glif["id"], expected=glif["count"], concurrency=1, page_size=job["page_size"]
                )
                async for _run in listing:
                    counts[0] += 1

        async with anyio.create_task_group() as tg:
            for _ in range(job["concurrency"] * 2):
                tg.start_soon(worker)
        return counts[0]

    return _aioglif(job, body)


# --- the small-page job: glifs with their graphs, then each glif's ~10 runs (one page each) ---


def _graphs_then_runs(list_fn: Runner, small_fn: Runner) -> Runner:
    def run(job: Job) -> int:
        glifs = {**job, "url": job["glifs_url"], "params": {"includes": "spells.data"}, "page_size": 100}
        return list_fn(glifs) + small_fn(job)

    return run


# --- the floor of the small-page job: no client at all ---------------------------------------


def floor_graphs_runs(job: Job) -> int:
    """Not a contender: what the small-page job costs on one ``aiohttp.ClientSession`` with no
    client logic at all, the lower bound of any client built on it. Every URL is built before
    the clock (the page count told, not found), no per-request timer, no cookie jar, no retry,
    no check of any kind; 16 workers; bodies decoded into aioglif's own models by msgspec."""
    import aiohttp
    import msgspec
    import yarl

    from aioglif.models import Glif, Run

    base = job["api_url"]
    pages = len(job["glifs"]) // 100 + 1
    todo: list[tuple[Any, yarl.URL]] = [
        (Glif, yarl.URL(f"{base}/glifs?includes=spells.data&page={p}&limit=100", encoded=True))
        for p in range(1, pages + 1)
    ]
    todo += [
        (Run, yarl.URL(f"{base}/runs?glifId={g['id']}&page={p}&limit=100", encoded=True))
        for g in job["glifs"]
        for p in range(1, -(-g["count"] // 100) + 1)  # the pages its count fills
    ]
    decoders: dict[Any, Callable[[bytes], list[Any]]] = {
        Glif: msgspec.json.Decoder(list[Glif]).decode,
        Run: msgspec.json.Decoder(list[Run]).decode,
    }

    async def main() -> int:
        total = 0
        it = iter(todo)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30),
        ) as session:

            async def worker() -> None:
                nonlocal total
                for model, url in it:
                    async with session.get(url) as r:
                        body = await r.read()
                    total += len(decoders[model](body))  # (``total +=`` around an await loses counts)

            await asyncio.gather(*(worker() for _ in range(16)))
        return total

    return asyncio.run(main())


# What each contender imports, loaded before the clock starts so that no one pays for imports:
# also what a library imports only on its first request (httpx its transport, and both it and
# aioglif anyio's asyncio backend, 15 ms of CPU on this machine type).
PRELOAD: dict[str, tuple[str, ...]] = {
    "requests": ("requests", "json"),
    "httpx+gather": (
        "httpx",
        "pydantic",
        "pydantic.alias_generators",
        "httpcore",
        "httpcore._backends.anyio",
        "h11",
        "anyio._backends._asyncio",
    ),
    "aiohttp+sem": ("aiohttp", "json"),
    "aioglif": ("aioglif", "anyio", "anyio._backends._asyncio"),
    "session floor": ("aiohttp", "msgspec", "yarl", "aioglif.models"),
}

CONTENDERS: dict[str, dict[str, Runner]] = {
    "requests": {"list": requests_list, "small": requests_small},
    "httpx+gather": {"list": httpx_list, "small": httpx_small},
    "aiohttp+sem": {"list": aiohttp_list, "small": aiohttp_small},
    "aioglif": {"list": aioglif_list, "small": aioglif_small},
}
for _runners in CONTENDERS.values():
    _runners["graphs+runs"] = _graphs_then_runs(_runners["list"], _runners["small"])

# Rows that are no contender's: run only where a scenario asks for them.
REFERENCES: dict[str, dict[str, Runner]] = {"session floor": {"graphs+runs": floor_graphs_runs}}
