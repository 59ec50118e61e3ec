"""How each kind of synthetic record is made up: words, users, graphs, glifs and runs, drawn
from the dataset's one random stream in the API's own JSON shape. Its own module: FakeData is the
dataset (its lists, indexes, and the changes made while it is served); these are the records'
shapes, which follow the evidence about the API and change for their own reasons."""

from __future__ import annotations

import random
import string
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

__all__ = ["WORDS", "Record", "RecordMaker", "iso"]

Record = dict[str, Any]

WORDS = [
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
_ALPHABET = string.ascii_lowercase + string.digits


def iso(moment: datetime) -> str:
    """The API's timestamp form: ISO 8601, UTC, milliseconds, ``Z``."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RecordMaker:
    """The record makers of :class:`FakeData`, which mixes them in; they draw from its ``rng``."""

    rng: random.Random
    glifs: list[Record]
    runs: list[Record]
    _encoded: dict[tuple[str, bool], bytes]

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
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(low, high)))

    def _make_user(self) -> Record:
        rng = self.rng
        name = f"{rng.choice(WORDS)}{rng.choice(WORDS)}{rng.randint(1, 999)}"
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


def _user_summary(user: Record) -> Record:
    return {k: user[k] for k in ("id", "name", "image", "username")}
