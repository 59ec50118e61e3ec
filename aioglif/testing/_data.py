"""Deterministic synthetic Glif data: users, glifs with graphs, runs and spheres, from a seed.

Records are kept as the API's own JSON-shaped dicts (camelCase), newest first, with indexes for
the filters the API offers. Inserting at the head (``add_glif``/``add_run``) mimics new content
arriving during a crawl. How each kind of record is made up is in :mod:`._records`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final

import msgspec

from ._bots import make_bots
from ._records import WORDS, Record, RecordMaker, iso

__all__ = ["FakeData", "iso"]

_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
# The ids the README and the docs use, held by every generated dataset (the oldest published
# glif and the first user), so that what the docs show runs as written against the fake server.
DOCS_GLIF_ID: Final = "clkbasluf0000mi08h541a3j4"
DOCS_USERNAME: Final = "jamiedubs"
_ENCODER = msgspec.json.Encoder()


@dataclass
class FakeData(RecordMaker):
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
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}"
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
