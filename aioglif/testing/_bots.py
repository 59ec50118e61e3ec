"""Agents ("bots") for the fake server: made from a dataset's users and glifs, and listed the way
the official client asks for them (``/api/bots?sort=&searchQuery=&creator=``, ``?id=``).

Glif never documented this endpoint. A bot carries only the keys the official client's schema
names; how the server sorts, filters and caps a listing is the fake's choice, said here.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._data import FakeData

__all__ = ["BOT_SORTS", "make_bots", "public_bot", "select_bots"]

Record = dict[str, Any]

BOT_SORTS = ("new", "popular", "featured")
_TRAITS = ("cheerful", "grumpy", "poetic", "terse", "curious", "sarcastic", "kind", "chaotic")
_ROLES = ("painter", "critic", "storyteller", "chef", "astrologer", "coach", "wizard", "DJ")


def make_bots(data: FakeData, count: int, seed: int) -> list[Record]:
    """``count`` bots, newest first, by the dataset's users, each using 0–4 public glifs.

    A random stream of their own: adding bots leaves the rest of a seed's data as it was.
    """
    from ._data import _EPOCH, iso  # the dataset's clock; imported late: _data imports us

    rng = random.Random(f"bots-{seed}")
    users = list(data.users.values())
    public = [g for g in data.glifs if g.get("publishedAt")]
    if not users:
        return []
    bots = []
    for i in range(count):
        owner = rng.choice(users)
        trait, role = rng.choice(_TRAITS), rng.choice(_ROLES)
        name = f"{trait.title()} {role.title()} {i}"
        starters = [f"Tell me about {role}s", "Surprise me"]
        created = _EPOCH + timedelta(days=3 * i, minutes=rng.randint(0, 1439))
        skills = rng.sample(public, min(len(public), rng.randint(0, 4)))
        bot_id = _cuid(rng)
        bots.append(
            {
                "id": bot_id,
                "name": name,
                "username": name.lower().replace(" ", "_"),
                "bio": f"A {trait} {role}." if rng.random() < 0.8 else None,
                "userId": owner["id"],
                "image": None if rng.random() < 0.3 else f"https://img.example/b/{bot_id}.png",
                "personality": f"You are a {trait} {role}. Keep answers short.",
                "deployedAt": iso(created + timedelta(hours=1)) if rng.random() < 0.7 else None,
                "chatResponseGlifId": skills[0]["id"] if skills and rng.random() < 0.3 else None,
                "messageCount": rng.randint(0, 50_000) if rng.random() < 0.9 else None,
                "conversationStarters": starters if rng.random() < 0.5 else None,
                "createdAt": iso(created),
                "updatedAt": iso(created + timedelta(days=rng.randint(0, 30))),
                "themeCss": None,
                "user": {k: owner[k] for k in ("id", "name", "username", "image")},
                "spellsForBot": [_skill(g, rng) for g in skills],
                # Not a key of the API: which bots the fake lists as featured, and in what order.
                "_featured": rng.random() < 0.3,
            }
        )
    bots.sort(key=lambda b: b["createdAt"], reverse=True)
    return bots


def _skill(glif: Record, rng: random.Random) -> Record:
    custom = rng.random() < 0.5
    return {
        "spell": {"id": glif["id"], "name": glif["name"]},
        "spellId": glif["id"],
        "customName": f"{glif['name']} skill" if custom else None,
        "customDescription": f"Uses {glif['name']}" if custom else None,
        "usageInstructions": "Call it with a short prompt." if rng.random() < 0.4 else None,
        "nativeToolName": None,
    }


def _cuid(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "cm" + "".join(rng.choice(alphabet) for _ in range(23))


def public_bot(bot: Record) -> Record:
    """A bot as the API shows it: without the fake's own bookkeeping keys."""
    return {k: v for k, v in bot.items() if not k.startswith("_")}


def select_bots(
    bots: list[Record], *, sort: str, query: str | None = None, creator: str | None = None
) -> list[Record]:
    """The bots a listing answers with: ``new`` newest first, ``popular`` by messages,
    ``featured`` the fake's picks; ``query`` matches name, username or bio; ``creator`` is the
    creator's username."""
    items = bots
    if creator is not None:
        items = [b for b in items if b["user"]["username"] == creator]
    if query:
        needle = query.lower()
        items = [
            b for b in items if needle in " ".join((b["name"], b["username"], b.get("bio") or "")).lower()
        ]
    if sort == "popular":
        items = sorted(items, key=lambda b: b.get("messageCount") or 0, reverse=True)
    elif sort == "featured":
        items = [b for b in items if b.get("_featured")]
    return items
