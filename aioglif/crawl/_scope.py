"""What a crawl harvests: the scope a user chooses, its key (a resumed crawl must be the same
one) and the root listings it starts from. Its own module because the export and the command
line read a scope without running a crawl."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .._protocol import BOT_SORTS
from ._store import Listing

__all__ = ["Scope"]


@dataclass(frozen=True)
class Scope:
    """What to harvest. With nothing chosen, all public glifs; ``bots`` alone harvests agents
    and the glifs they use, not all glifs."""

    all: bool = False
    featured: bool = False
    users: tuple[str, ...] = ()
    spheres: tuple[str, ...] = ()
    glifs: tuple[str, ...] = ()
    runs: bool = False  # every public run of every harvested glif (and of the given users)
    graphs: bool = False
    # Agents: the given users' (with ``users``), or all that the three sorts list; and the glifs
    # they use.
    bots: bool = False

    def __post_init__(self) -> None:
        for name, values in (("users", self.users), ("spheres", self.spheres), ("glifs", self.glifs)):
            if any(not isinstance(v, str) or not v.strip() for v in values):
                raise ValueError(f"scope {name} must be non-empty strings")
        if not (self.all or self.featured or self.users or self.spheres or self.glifs or self.bots):
            object.__setattr__(self, "all", True)

    def key(self) -> str:
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}
        if not self.bots:
            del fields["bots"]  # the key of a scope without bots is what it was before they came
        return json.dumps(fields, sort_keys=True)

    def roots(self) -> list[Listing]:
        out = []
        if self.all:
            out.append(Listing("glifs:all", "glifs", ""))
        if self.featured:
            out.append(Listing("glifs:featured", "glifs", "featured"))
        for name in self.users:
            out.append(Listing(f"glifs:user:{name}", "glifs", f"user:{name}"))
            if self.runs:
                out.append(Listing(f"runs:user:{name}", "runs", f"user:{name}"))
        for slug in self.spheres:
            out.append(Listing(f"sphere:{slug}", "sphere", slug))
        for glif_id in self.glifs:
            out.append(Listing(f"glif:{glif_id}", "glif", glif_id))
        if self.bots:
            # The listing is one answer per query, not pages: the union of the sorts is as much
            # of it as the API shows.
            targets = [f"creator:{name}" for name in self.users] or list(BOT_SORTS)
            out.extend(Listing(f"bots:{t}", "bots", t) for t in targets)
        return out
