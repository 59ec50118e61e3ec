"""Deterministic synthetic Glif data: users, glifs with graphs, runs and spheres, from a seed.

Records are kept as the API's own JSON-shaped dicts (camelCase), newest first, with indexes for
the filters the API offers. Inserting at the head (``add_glif``/``add_run``) mimics new content
arriving during a crawl.
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

import msgspec

from ._bots import make_bots

__all__ = ["FakeData", "iso"]

Record = dict[str, Any]

_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
# The ids the README and the docs use, held by every generated dataset (the oldest published
# glif and the first user), so that what the docs show runs as written against the fake server.
DOCS_GLIF_ID: Final = "clkbasluf0000mi08h541a3j4"
DOCS_USERNAME: Final = "jamiedubs"
_WORDS = [
    "neon",
    "cat",
    "glitch",
    "portrait",
    "cinematic",
    "dream",
    "forest",
    "robot",
    "ocean",
    "pixel",
    "retro",
    "vapor",
    "anime",
    "sketch",
    "oil",
    "painting",
    "surreal",
    "cozy",
    "cyber",
    "punk",
    "moody",
    "lighting",
    "golden",
    "hour",
    "studio",
    "photo",
    "watercolor",
    "minimal",
    "poster",
    "meme",
    "remix",
    "story",
    "poem",
    "haiku",
    "lyrics",
    "recipe",
    "tarot",
    "horoscope",
    "roast",
    "compliment",
    "wizard",
    "dragon",
    "castle",
    "city",
    "night",
    "rain",
    "space",
    "astronaut",
    "galaxy",
    "comic",
    "zine",
    "collage",
    "sticker",
]
_LLMS = ("gpt-4o", "gpt-4o-mini", "claude-3.5-sonnet", "Perplexity: Llama3 Sonar 8B Online")
_OUTPUT_TYPES = ("TEXT", "IMAGE", "IMAGE", "IMAGE", "VIDEO", "AUDIO", "HTML", "JSON")
_ENCODER = msgspec.json.Encoder()
_ALPHABET = string.ascii_lowercase + string.digits


def iso(moment: datetime) -> str:
    """The API's timestamp form: ISO 8601, UTC, milliseconds, ``Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakeData:
    """The dataset behind a fake server. Build it with :meth:`generate`, or fill it yourself."""

    users: dict[str, Record] = field(default_factory=dict)
    glifs: list[Record] = field(default_factory=list)  # newest first, published and drafts
    runs: list[Record] = field(default_factory=list)  # newest first
    spheres: list[Record] = field(default_factory=list)
    bots: list[Record] = field(default_factory=list)  # agents, newest first (see _bots.py)
    credits: dict[str, Decimal] = field(default_factory=dict)  # user id -> remaining
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def __post_init__(self) -> None:
        self._encoded: dict[tuple[str, bool], bytes] = {}
        self.version = 0  # counts changes: what was derived from the lists is stale when it moves
        self.deleted_glifs: set[str] = set()
        self.deleted_runs: set[str] = set()
        self.reindex()

    def glif_json(self, glif: Record, *, graph: bool) -> bytes:
        """A glif's JSON, with or without its graph, encoded once until the glif changes."""
        key = (glif["id"], graph)
        cached = self._encoded.get(key)
        if cached is None:
            shown = glif if graph else {k: v for k, v in glif.items() if k != "data"}
            cached = self._encoded[key] = _ENCODER.encode(shown)
        return cached

    def run_json(self, run: Record) -> bytes:
        key = (run["id"], False)
        cached = self._encoded.get(key)
        if cached is None:
            cached = self._encoded[key] = _ENCODER.encode(run)
        return cached

    # --- indexes ---------------------------------------------------------------------------

    def reindex(self) -> None:
        self.version += 1
        self.glif_by_id = {g["id"]: g for g in self.glifs}
        self.run_by_id = {r["id"]: r for r in self.runs}
        self.user_by_name = {u["username"]: u for u in self.users.values()}
        self.public_glifs = [g for g in self.glifs if g.get("publishedAt")]
        self.featured_glifs = [g for g in self.public_glifs if g.get("featuredAt")]
        self.glifs_by_user: dict[str, list[Record]] = defaultdict(list)
        for g in self.public_glifs:
            self.glifs_by_user[g["userId"]].append(g)
        self.public_runs = [r for r in self.runs if r.get("visibility") == "PUBLIC"]
        self.runs_by_glif: dict[str, list[Record]] = defaultdict(list)
        self.runs_by_user: dict[str, list[Record]] = defaultdict(list)
        for r in self.public_runs:
            self.runs_by_glif[r["spellId"]].append(r)
            self.runs_by_user[r["userId"]].append(r)
        self.bot_by_id = {b["id"]: b for b in self.bots}
        self.sphere_by = {("id", s["id"]): s for s in self.spheres}
        self.sphere_by.update({("slug", s["slug"]): s for s in self.spheres})

    # --- generation ------------------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        *,
        seed: int = 0,
        users: int = 20,
        glifs: int = 200,
        runs: int = 2000,
        spheres: int = 4,
        drafts: float = 0.05,
        runs_per_glif: tuple[int, int] | None = None,
        bots: int = 12,
    ) -> FakeData:
        """A realistic dataset: graphs of 2–12 blocks, run counts skewed (many glifs have none).

        ``runs_per_glif=(low, high)`` gives each published glif a uniform number of runs in that
        range instead, and ``runs`` is then ignored.
        """
        if min(users, glifs, runs, spheres, bots) < 0 or (glifs and not users):
            raise ValueError("counts must not be negative, and glifs need at least one user")
        rng = random.Random(seed)
        data = cls(rng=rng)
        for _ in range(users):
            u = data._make_user()
            data.users[u["id"]] = u
            data.credits[u["id"]] = Decimal(rng.choice((100, 500, 2000)))
        user_list = list(data.users.values())
        if user_list:
            _rename_user(user_list[0], DOCS_USERNAME)
        start = _EPOCH
        made = []
        for i in range(glifs):
            created = start + timedelta(minutes=30 * i + rng.randint(0, 29))
            made.append(data._make_glif(rng.choice(user_list), created, draft=rng.random() < drafts))
        made.reverse()  # newest first
        published = [g for g in made if g.get("publishedAt")]
        if published:
            # Renamed, not added: the seed's counts, order and random stream stay as they were.
            published[-1]["id"] = DOCS_GLIF_ID
            published[-1]["data"] = {"nodes": _docs_graph()}
        data.glifs = made
        data._make_runs(runs, user_list, runs_per_glif)
        public = [g for g in made if g.get("publishedAt")]
        for i in range(spheres):
            members = rng.sample(public, min(len(public), rng.randint(3, 60))) if public else []
            members.sort(key=lambda g: g["createdAt"], reverse=True)
            name = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {i}"
            data.spheres.append(
                {
                    "id": data.new_id(),
                    "name": name.title(),
                    "slug": name.replace(" ", "-"),
                    "description": data._words(8, 20),
                    "imageUrl": None,
                    "createdAt": iso(_EPOCH + timedelta(days=i)),
                    "glifIds": [g["id"] for g in members],
                }
            )
        data.bots = make_bots(data, bots, seed)
        data.reindex()
        return data

    def new_id(self) -> str:
        """A 25-character cuid-like id, as glif and user ids are."""
        n, out = self.rng.getrandbits(119), []
        for _ in range(23):
            n, r = divmod(n, 36)
            out.append(_ALPHABET[r])
        return "cl" + "".join(out)

    def _phrase(self, long: bool = False) -> str:
        """A random phrase from a pool: runs are many, and fresh words for each are slow."""
        pools = self.__dict__.setdefault("_pools", {})
        if long not in pools:
            pools[long] = [self._words(10, 60) if long else self._words(1, 6) for _ in range(997)]
        pool = pools[long]
        return pool[int(self.rng.random() * len(pool))]  # type: ignore[no-any-return]

    def _words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(_WORDS, k=self.rng.randint(low, high)))

    def _make_user(self) -> Record:
        rng = self.rng
        name = f"{rng.choice(_WORDS)}{rng.choice(_WORDS)}{rng.randint(1, 999)}"
        user = {
            "id": self.new_id(),
            "name": name,
            "username": name.lower(),
            "image": None if rng.random() < 0.2 else f"https://img.example/u/{name}.png",
            "bio": self._words(3, 12),
        }
        # A field a user has not filled in is left out, not null: the official client's schema
        # has website and location as optional strings. Chosen from the name, not the shared
        # random stream, so that the rest of a seed's data stays what it was.
        extra = random.Random(name)
        if extra.random() < 0.4:
            user["website"] = f"https://{user['username']}.example"
        if extra.random() < 0.3:
            user["location"] = extra.choice(("Berlin", "Lagos", "Osaka", "Lima", "Toronto"))
        return user

    def make_graph(self) -> list[Record]:
        """2–12 blocks: inputs first, then generators referencing earlier blocks by ``{name}``."""
        rng = self.rng
        nodes: list[Record] = []
        for i in range(rng.randint(1, 3)):
            kind = rng.choice(("TextInputBlock", "TextInputBlock", "MultipickBlock", "ImageInputBlock"))
            params: Record = {"label": self._words(1, 4), "value": self._words(2, 8)}
            if kind == "MultipickBlock":
                params["options"] = [self._words(1, 3) for _ in range(rng.randint(2, 6))]
                params["randomize"] = rng.random() < 0.5
            nodes.append({"name": f"input{i + 1}", "type": kind, "params": params})
        for i in range(rng.randint(1, 9)):
            refs = " ".join("{" + n["name"] + "}" for n in rng.sample(nodes, min(2, len(nodes))))
            kind = rng.choice(
                ("GPTBlock", "GPTBlock", "ImageBlock", "ComfyBlock", "GlifBlock", "TextCombinerBlock")
            )
            name = f"{kind.removesuffix('Block').lower()}{i + 1}"
            if kind == "GPTBlock":
                params = {
                    "api": "chat",
                    "model": rng.choice(_LLMS),
                    "prompt": f"{self._words(30, 120)} {refs}",
                    "systemPrompt": self._words(10, 40),
                    "maxTokens": rng.choice((256, 500, 1000)),
                    "temperature": round(rng.uniform(0, 1.5), 2),
                    "jsonMode": rng.random() < 0.2,
                }
            elif kind == "ComfyBlock":
                params = {"value": '{"3": {"class_type": "KSampler"}} ' + self._words(40, 150), "seed": None}
            elif kind == "GlifBlock":
                params = {"id": self.new_id(), "inputValues": []}
            else:
                params = {"prompt": f"{self._words(10, 60)} {refs}"}
            nodes.append({"name": name, "type": kind, "params": params})
        return nodes

    def _make_glif(self, user: Record, created: datetime, *, draft: bool = False) -> Record:
        rng = self.rng
        output_type = rng.choice(_OUTPUT_TYPES)
        return {
            "id": self.new_id(),
            "name": self._words(1, 4),
            "imageUrl": None if rng.random() < 0.5 else f"https://img.example/g/{rng.randint(1, 10**9)}.png",
            "description": self._words(0, 25),
            "createdAt": iso(created),
            "updatedAt": iso(created + timedelta(hours=rng.randint(0, 48))),
            "publishedAt": None if draft else iso(created + timedelta(minutes=5)),
            "output": self._output(output_type),
            "outputType": output_type,
            "forkedFromId": None,
            "featuredAt": iso(created + timedelta(days=1)) if rng.random() < 0.1 else None,
            "userId": user["id"],
            "completedSpellRunCount": 0,
            "averageDuration": round(rng.uniform(2_000, 60_000), 1),
            "user": _user_summary(user),
            "_count": {"likes": rng.randint(0, 500), "comments": rng.randint(0, 40)},
            "spheres": [],
            "data": {"nodes": self.make_graph()},
        }

    def _output(self, output_type: str) -> str:
        if output_type == "TEXT":
            return self._phrase(long=True)
        ext = {"IMAGE": "png", "VIDEO": "mp4", "AUDIO": "mp3"}.get(output_type, "txt")
        return f"https://res.example/glif-run-outputs/{self.rng.randint(1, 10**12)}.{ext}"

    def _make_runs(self, total: int, users: list[Record], per_glif: tuple[int, int] | None) -> None:
        public = [g for g in self.glifs if g.get("publishedAt")]
        rng = self.rng
        if per_glif is not None:
            low, high = per_glif
            chosen = [g for g in public for _ in range(rng.randint(low, high))]
        elif not public or not total:
            return
        else:
            # Skewed like real usage: about a third of glifs are never run, a few are run a lot.
            weights = [0.0 if rng.random() < 0.35 else rng.paretovariate(1.2) for _ in public]
            if not any(weights):
                weights[0] = 1.0
            chosen = rng.choices(public, weights=weights, k=total)
        runs = [self.make_run(g, rng.choice(users), public=True) for g in chosen]
        runs.sort(key=lambda r: r["createdAt"], reverse=True)
        self.runs = runs

    def make_run(
        self,
        glif: Record,
        user: Record,
        *,
        public: bool,
        at: datetime | None = None,
        inputs: dict[str, str] | None = None,
        output: str | None = None,
        price: Decimal | None = None,
    ) -> Record:
        rng = self.rng
        if at is None:
            created_at = datetime.fromisoformat(glif["createdAt"].replace("Z", "+00:00"))
            at = created_at + timedelta(seconds=60 + int(rng.random() * 86_400 * 300))
        started = at
        duration = 1_500 + int(rng.random() * 88_500)
        if inputs is None:
            inputs = {
                n["name"]: self._phrase()
                for n in glif["data"]["nodes"]
                if "Input" in n["type"] or n["type"] == "MultipickBlock"
            }
        price = price if price is not None else Decimal(rng.randint(1, 50_000)) / 10_000
        self._encoded.pop((glif["id"], True), None)
        self._encoded.pop((glif["id"], False), None)
        if public:  # the fake counts public runs only, so a listing can be planned from it
            glif["completedSpellRunCount"] = glif.get("completedSpellRunCount", 0) + 1
        start, end = iso(started), iso(started + timedelta(milliseconds=duration))
        return {
            "id": self.new_id()[1:],  # run ids seen are 24 chars without the cl prefix
            "createdAt": start,
            "updatedAt": end,
            "startedAt": start,
            "completedAt": end,
            "output": output if output is not None else self._output(glif.get("outputType") or "TEXT"),
            "outputType": glif.get("outputType"),
            "userId": user["id"],
            "spellId": glif["id"],
            "totalDuration": duration,
            "public": public,
            "visibility": "PUBLIC" if public else "PRIVATE",
            "clientType": rng.choice(("WEB", "API", "DISCORD")),
            "inputs": inputs,
            "outputImageWidth": 1024 if glif.get("outputType") == "IMAGE" else None,
            "outputImageHeight": 1024 if glif.get("outputType") == "IMAGE" else None,
            # Real runs carried the key, null unless deleted (the official client's run schema).
            "deletionReason": None,
            "totalSellingPriceCredits": str(price),
            "likeCount": rng.randint(0, 20),
            "commentCount": rng.randint(0, 5),
            "user": _user_summary(user),
            "spell": {
                "id": glif["id"],
                "name": glif["name"],
                "output": glif.get("output"),
                "outputType": glif.get("outputType"),
                "user": glif["user"],
            },
        }

    # --- changes while serving -------------------------------------------------------------

    def add_glif(
        self,
        user_id: str | None = None,
        *,
        at: datetime | None = None,
        graph: list[Record] | None = None,
        name: str | None = None,
        description: str = "",
        published: bool = True,
    ) -> Record:
        """A new glif at the head of the lists (newest), as if published just now."""
        user = self.users[user_id] if user_id else next(iter(self.users.values()))
        newest = max((g["createdAt"] for g in self.glifs), default=iso(_EPOCH))
        moment = at or _now_after(newest)
        glif = self._make_glif(user, moment, draft=not published)
        if graph is not None:
            glif["data"] = {"nodes": graph}
        if name is not None:
            glif["name"], glif["description"] = name, description
        glif["featuredAt"] = None
        self.glifs.insert(0, glif)
        self.reindex()
        return glif

    def add_run(
        self, glif_id: str, user_id: str | None = None, *, public: bool = True, **fields: Any
    ) -> Record:
        """A new run of a glif at the head of the lists."""
        glif = self.glif_by_id[glif_id]
        user = self.users[user_id] if user_id else next(iter(self.users.values()))
        newest = self.runs[0]["createdAt"] if self.runs else iso(_EPOCH)  # newest first
        run = self.make_run(glif, user, public=public, at=_now_after(newest), **fields)
        # The indexes are updated in place: a full reindex per run made a busy server slower
        # with every run it served.
        self.version += 1
        self.runs.insert(0, run)
        self.run_by_id[run["id"]] = run
        if public:
            self.public_runs.insert(0, run)
            self.runs_by_glif[glif_id].insert(0, run)
            self.runs_by_user[user["id"]].insert(0, run)
        return run

    def delete_glif(self, glif_id: str) -> list[str]:
        """Delete a glif with all its runs, as its owner can; returns the ids of the runs."""
        glif = self.glif_by_id[glif_id]
        gone = [r["id"] for r in self.runs if r["spellId"] == glif_id]
        self.glifs.remove(glif)
        self.runs = [r for r in self.runs if r["spellId"] != glif_id]
        for sphere in self.spheres:
            if glif_id in sphere["glifIds"]:
                sphere["glifIds"] = [i for i in sphere["glifIds"] if i != glif_id]
        self.deleted_glifs.add(glif_id)
        self.deleted_runs.update(gone)
        self.reindex()
        return gone

    def delete_run(self, run_id: str) -> None:
        """Delete one run; its glif's count follows."""
        run = self.run_by_id.pop(run_id)
        self.version += 1
        self.runs.remove(run)
        self.deleted_runs.add(run_id)
        if run.get("visibility") == "PUBLIC":
            self.public_runs.remove(run)
            self.runs_by_glif[run["spellId"]].remove(run)
            self.runs_by_user[run["userId"]].remove(run)
            glif = self.glif_by_id.get(run["spellId"])
            if glif is not None:
                glif["completedSpellRunCount"] = max(0, glif.get("completedSpellRunCount", 0) - 1)
                self._encoded.pop((glif["id"], True), None)
                self._encoded.pop((glif["id"], False), None)


def _docs_graph() -> list[Record]:
    """The docs glif's graph: the inputs the README's examples send (``username``, ``topic``)."""
    return [
        {"name": "username", "type": "TextInputBlock", "params": {"label": "Username", "value": "jamiedubs"}},
        {"name": "topic", "type": "TextInputBlock", "params": {"label": "Topic", "value": "otters"}},
        {
            "name": "poem",
            "type": "GPTBlock",
            "params": {"api": "chat", "model": "gpt-4o", "prompt": "A haiku for {username} about {topic}."},
        },
    ]


def _rename_user(user: Record, username: str) -> None:
    """Give a freshly made user (nothing refers to its name yet) the name the docs use."""
    user["name"] = user["username"] = username
    if "website" in user:
        user["website"] = f"https://{username}.example"
    if user.get("image"):
        user["image"] = f"https://img.example/u/{username}.png"


def _now_after(newest: str) -> datetime:
    """The wall-clock time, as a real server stamps new records, but never before the newest."""
    floor = datetime.fromisoformat(newest.replace("Z", "+00:00")) + timedelta(milliseconds=1)
    return max(datetime.now(timezone.utc), floor)


def _user_summary(user: Record) -> Record:
    return {k: user[k] for k in ("id", "name", "image", "username")}
