"""The fake server's REST handlers: glifs, runs, users, spheres, as the Glif API answers them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import msgspec
from aiohttp import web

from ._behaviour import Behaviour, arrange
from ._bots import BOT_SORTS, public_bot, select_bots
from ._data import FakeData
from ._evidence import create_problems
from ._records import Record

# Newer aiohttp warns about plain string keys in request storage.
USER: Any = web.RequestKey("user", object) if hasattr(web, "RequestKey") else "user"


class RestHandlers:
    """The REST endpoints, mixed into :class:`FakeGlifServer`."""

    data: FakeData
    sphere_shape: Literal["object", "array"]
    behaviour: Behaviour
    _counts_at_start: dict[str, int]
    _arranged: dict[tuple[Any, ...], list[Record]]

    def _page(self, request: web.Request, items: list[Record]) -> list[Record]:
        """The page asked for, under the behaviour's rules for this listing (by default: 1-based
        ``page`` of ``limit`` items, 20 by default, silently capped at 100, newest first)."""
        q = request.query
        rules = self.behaviour.rules(request.path.rstrip("/"), q)  # a trailing slash is the same URL
        try:
            page = int(q.get("page", str(rules.first_page)))
            limit = int(q.get("limit", "20"))
        except ValueError:
            raise web.HTTPBadRequest(reason="page and limit must be integers") from None
        index = rules.index(page)
        if index is None or limit < 1:
            raise web.HTTPBadRequest(reason=f"page must be at least {rules.first_page}, limit positive")
        size = rules.served_limit(limit)
        if rules.order != "newest":
            salt = "&".join(f"{k}={v}" for k, v in sorted(q.items()) if k not in ("page", "limit"))
            user = request[USER]  # what a list holds may depend on who asks (private runs)
            key = (request.path, salt, rules.order, self.data.version, user["id"] if user else None)
            arranged = self._arranged.get(key)
            if arranged is None:
                if len(self._arranged) > 256:
                    self._arranged.clear()
                arranged = self._arranged[key] = arrange(items, rules.order, salt)
            items = arranged
        if rules.clamp_past_end and items:
            index = min(index, (len(items) - 1) // size)
        return items[index * size : (index + 1) * size]

    def _glif_out(self, glif: Record, *, graph: bool) -> bytes:
        """A glif's JSON with its run count as the behaviour has it: exact, missing or stale."""
        mode = self.behaviour.run_count
        if mode == "exact":
            return self.data.glif_json(glif, graph=graph)
        shown = {k: v for k, v in glif.items() if graph or k != "data"}
        if mode == "missing":
            shown.pop("completedSpellRunCount", None)
        else:
            shown["completedSpellRunCount"] = self._counts_at_start.get(glif["id"], 0)
        return msgspec.json.encode(shown)

    bots_default_sort: Literal["popular", "featured", "new"]

    async def _glifs(self, request: web.Request) -> web.Response:
        q, d, user = request.query, self.data, request[USER]
        graph = q.get("includes") == "spells.data"
        if "id" in q:
            g = d.glif_by_id.get(q["id"])
            visible = g is not None and (g.get("publishedAt") or (user and user["id"] == g["userId"]))
            return _array([self._glif_out(g, graph=True)] if visible and g else [])
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
        return _array([self._glif_out(g, graph=graph) for g in self._page(request, items)])

    async def _create_glif(self, request: web.Request) -> web.Response:
        user = request[USER]
        if user is None:
            return error(401, "Unauthorized: a token is required")
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return error(400, "Body is not valid JSON")
        problems = create_problems(body)
        if problems:
            return error(400, "Invalid glif: " + "; ".join(problems), problems=problems)
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
            user = request[USER]
            visible = run is not None and (
                run.get("visibility") == "PUBLIC" or (user and user["id"] == run["userId"])
            )
            return _array([d.run_json(run)] if visible and run else [])
        glif_id = q.get("glifId") or q.get("spellId")
        by_user = "userId" in q or "username" in q
        found = d.users.get(q.get("userId", "")) or d.user_by_name.get(q.get("username", ""))
        user_id = (found["id"] if found else "-") if by_user else None
        if glif_id is not None and glif_id in d.deleted_glifs:
            return error(404, "Glif not found")
        owner = request[USER] if self.behaviour.private_runs == "owner" else None
        if owner is not None and (glif_id is not None or by_user):
            # The token's own private runs are listed too (one of the ways the API may behave).
            items = [
                r
                for r in d.runs
                if (glif_id is None or r["spellId"] == glif_id)
                and (user_id is None or r["userId"] == user_id)
                and (r.get("visibility") == "PUBLIC" or r["userId"] == owner["id"])
            ]
        elif glif_id is not None:
            items = d.runs_by_glif.get(glif_id, [])
            if user_id is not None:
                items = [r for r in items if r["userId"] == user_id]
        elif by_user:
            items = d.runs_by_user.get(user_id or "-", [])
        else:
            items = d.public_runs
        return _array([d.run_json(r) for r in self._page(request, items)])

    async def _user(self, request: web.Request) -> web.Response:
        d = self.data
        q: Mapping[str, str] = request.query
        if "id" in request.match_info:
            q = {"id": request.match_info["id"]}
        found = d.users.get(q["id"]) if "id" in q else d.user_by_name.get(q.get("username", ""))
        if not ("id" in q or "username" in q):
            return error(400, "id or username is required")
        if found is None:
            return error(404, "User not found")
        return web.json_response(found)

    async def _me(self, request: web.Request) -> web.Response:
        user = request[USER]
        if user is None:
            return error(401, "Unauthorized: a token is required")
        remaining = self.data.credits.get(user["id"], Decimal(0))
        return web.json_response(
            {
                "user": {**user, "staff": False, "isSubscriber": False, "rateLimitClass": "default"},
                "credits": {"remaining": float(remaining), "limit": 2000, "label": "daily"},
            }
        )

    async def _bots(self, request: web.Request) -> web.Response:
        q, d = request.query, self.data
        if "id" in q:
            bot = d.bot_by_id.get(q["id"])
            return web.json_response(public_bot(bot)) if bot else error(404, "Bot not found")
        sort = q.get("sort", self.bots_default_sort)
        if sort not in BOT_SORTS:
            return error(400, f"sort must be one of {', '.join(BOT_SORTS)}")
        found = select_bots(d.bots, sort=sort, query=q.get("searchQuery"), creator=q.get("creator"))
        return web.json_response([public_bot(b) for b in found])

    async def _spheres(self, request: web.Request) -> web.Response:
        q, d = request.query, self.data
        key = "slug" if "slug" in q else "id" if "id" in q else None
        if key is None:
            return web.json_response([summary(s) for s in self._page(request, d.spheres)])
        sphere = d.sphere_by.get((key, q[key]))
        graph = q.get("includes") == "spells.data"
        members = [d.glif_by_id[i] for i in sphere["glifIds"]] if sphere else []
        glifs = _array([self._glif_out(g, graph=graph) for g in self._page(request, members)])
        if self.sphere_shape == "array":
            return glifs
        if sphere is None:
            return error(404, "Sphere not found")
        head = msgspec.json.encode(summary(sphere))[:-1]
        return web.Response(body=head + b',"glifs":' + glifs.body + b"}", content_type="application/json")  # type: ignore[operator]


def summary(sphere: Record) -> Record:
    return {k: v for k, v in sphere.items() if k != "glifIds"}


def error(status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _array(items: list[bytes]) -> web.Response:
    return web.Response(body=b"[" + b",".join(items) + b"]", content_type="application/json")
