"""Typed, lenient models of the Glif API's resources.

Attributes are snake_case; on the wire they are the API's camelCase. Unknown fields are ignored
and every field that the evidence (``glif-api.md``) shows may be absent or null is optional, so a
response with more or fewer keys than we know still decodes. Decoders are built once, here.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Annotated, Final, Generic, TypeVar

import msgspec

# A count as the API sends it, within what a 64-bit integer (and SQLite) holds: a larger number
# is a broken record, refused when decoded rather than failing wherever it is stored or summed.
Count = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]

__all__ = [
    "NSFW_PLACEHOLDER_URLS",
    "Bot",
    "BotGlif",
    "BotSkill",
    "Counts",
    "Credits",
    "Glif",
    "Graph",
    "Me",
    "Node",
    "OutputFull",
    "Run",
    "RunNode",
    "RunResult",
    "RunSpell",
    "Sphere",
    "User",
    "is_nsfw_placeholder",
]

# The images the Simple API returns in place of an output its NSFW filter blocked: such a run
# "succeeds", with no ``error``. The official mannygen app compares outputs with exactly these
# two; any other Cloudinary URL under ``/nsfw_placeholders/`` is taken to be one too.
NSFW_PLACEHOLDER_URLS: Final = frozenset(
    {
        "https://res.cloudinary.com/dzkwltgyd/image/upload/v1690807779/nsfw_placeholders/"
        "cartoon_of_shocked_hamster_shocked_facial_expression_whimsical_cartoon__tyyjgi.jpg",
        "https://res.cloudinary.com/dzkwltgyd/image/upload/v1690807782/nsfw_placeholders/"
        "cartoon_of_a_hamster_with_hands_in_face_in_shame_cute_whimsical_1970s_cartoon_iapc3o.jpg",
    }
)


def is_nsfw_placeholder(output: str | None) -> bool:
    """Whether a run's output is the NSFW filter's placeholder image. A heuristic: it knows the
    placeholders seen so far (a known URL, or a path under ``/nsfw_placeholders/``)."""
    if not output:
        return False
    output = output.strip().strip("<>")  # the docs wrap URLs in <...>
    return output in NSFW_PLACEHOLDER_URLS or (
        "/nsfw_placeholders/" in output and output.startswith(("https://", "http://"))
    )


class _Model(msgspec.Struct, rename="camel", kw_only=True, frozen=True, omit_defaults=True):
    """Base of every resource: camelCase on the wire, immutable, defaults left out when encoding."""


class User(_Model, frozen=True):
    id: str
    name: str | None = None
    username: str | None = None
    image: str | None = None
    bio: str | None = None
    website: str | None = None
    location: str | None = None
    banned: bool | None = None
    banned_at: _dt.datetime | None = None
    rate_limit_class: str | None = None
    staff: bool | None = None
    is_subscriber: bool | None = None


class Node(_Model, frozen=True, omit_defaults=False):
    """One block of a glif's graph. ``type`` and ``params`` stay open so unknown blocks survive.

    Defaults are encoded too: a graph must come back out exactly as it went in.
    """

    name: str
    type: str
    params: dict[str, object] = msgspec.field(default_factory=dict)


class Graph(_Model, frozen=True, omit_defaults=False):
    nodes: list[Node] = msgspec.field(default_factory=list)

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)


class Counts(_Model, frozen=True):
    """The ``_count`` object of a glif; the 2023 shape has only ``likes``."""

    likes: Count | None = None
    comments: Count | None = None


class Glif(_Model, frozen=True):
    """A glif (workflow). ``data`` holds the graph when the API included it.

    ``id``, ``name``, ``created_at``, ``updated_at`` and ``user_id`` are always there: every
    source has them (the API's docs, its own client's schema, every sample). All else may be
    absent or null.
    """

    id: str
    name: str
    created_at: _dt.datetime
    updated_at: _dt.datetime
    user_id: str
    description: str | None = None
    image_url: str | None = None
    published_at: _dt.datetime | None = None
    featured_at: _dt.datetime | None = None
    output: str | None = None
    output_type: str | None = None
    forked_from_id: str | None = None
    user: User | None = None
    completed_spell_run_count: Count | None = None
    average_duration: float | None = None
    count: Counts | None = msgspec.field(default=None, name="_count")
    like_count: Count | None = None
    comment_count: Count | None = None
    # Element shapes unknown (empty in every sample): kept as plain JSON values.
    spheres: list[object] | None = None
    spell_tags: list[object] | None = None
    data: Graph | None = None

    @property
    def likes(self) -> int | None:
        """Likes from either ``_count.likes`` or ``likeCount``, whichever the API sent."""
        if self.count is not None and self.count.likes is not None:
            return self.count.likes
        return self.like_count

    @property
    def comments(self) -> int | None:
        """Comments from either ``_count.comments`` or ``commentCount``."""
        if self.count is not None and self.count.comments is not None:
            return self.count.comments
        return self.comment_count

    @property
    def graph(self) -> Graph | None:
        return self.data


class RunSpell(_Model, frozen=True):
    """The summary of the glif a run belongs to (``spell`` is the API's old name for a glif)."""

    id: str
    name: str | None = None
    output: str | None = None
    output_type: str | None = None
    user: User | None = None


class Run(_Model, frozen=True):
    """A public run of a glif, as listed by ``/api/runs``."""

    id: str
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    started_at: _dt.datetime | None = None
    completed_at: _dt.datetime | None = None
    output: str | None = None
    output_type: str | None = None
    user_id: str | None = None
    spell_id: str | None = None
    total_duration: float | None = None
    public: bool | None = None
    visibility: str | None = None
    client_type: str | None = None
    # Strings in practice; the official client's schema allows any JSON value.
    inputs: dict[str, object] | None = None
    output_image_width: float | None = None
    output_image_height: float | None = None
    deleted: bool | None = None
    deletion_reason: str | None = None
    total_selling_price_credits: Decimal | None = None
    like_count: Count | None = None
    comment_count: Count | None = None
    user: User | None = None
    spell: RunSpell | None = None

    @property
    def glif_id(self) -> str | None:
        return self.spell_id if self.spell_id is not None else (self.spell.id if self.spell else None)

    @property
    def price(self) -> Decimal | None:
        return self.total_selling_price_credits

    @property
    def nsfw_filtered(self) -> bool:
        """The NSFW filter blocked this run's output (a heuristic: see :func:`is_nsfw_placeholder`)."""
        return is_nsfw_placeholder(self.output)


class Sphere(_Model, frozen=True):
    """A staff-curated collection of glifs. ``glifs`` is set when the API sent them along."""

    id: str
    name: str | None = None
    slug: str | None = None
    description: str | None = None
    image_url: str | None = None
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    glifs: list[Glif] | None = None
    # The API's old word for glifs; a sphere object may carry its glifs under either key.
    spells: list[Glif] | None = None

    @property
    def items(self) -> list[Glif]:
        return self.glifs if self.glifs is not None else (self.spells or [])


class Credits(_Model, frozen=True):
    """Credits of ``/api/me``, exact: the API may send a number or a decimal string."""

    remaining: Decimal | None = None
    limit: Decimal | None = None
    label: str | None = None


class Me(_Model, frozen=True):
    """``/api/me``: the token's user and its credits."""

    user: User
    credits: Credits | None = None


class OutputFull(_Model, frozen=True):
    """The typed output of a run: ``type`` (TEXT, IMAGE, AUDIO, VIDEO, JSON, HTML) and ``value``."""

    type: str | None = None
    value: str | None = None


class RunNode(_Model, frozen=True):
    """One block's part of a run (the Simple API's ``nodes``). The shape is undocumented:
    every field is optional and ``output`` is whatever JSON the API sent."""

    name: str | None = None
    type: str | None = None
    output: object = None


class RunResult(_Model, frozen=True):
    """The Simple API's answer to a run. ``error`` set means the run failed."""

    id: str | None = None
    inputs: dict[str, str] | None = None
    # Documented as a string; the official Discord bot guards against a list: whatever JSON
    # comes is kept, since the run was paid for.
    output: str | list[object] | dict[str, object] | None = None
    output_full: OutputFull | None = None
    price: Decimal | None = None
    nodes: list[RunNode] | None = None
    error: str | None = None
    # 2023 legacy shape: {"input": ..., "output": ...}
    input: str | list[object] | dict[str, object] | None = None

    @property
    def nsfw_filtered(self) -> bool:
        """The run "succeeded" with the NSFW filter's placeholder image instead of an output.

        A heuristic (see :func:`is_nsfw_placeholder`): the API flags nothing; known placeholder
        URLs are recognised in ``output`` or ``output_full.value``.
        """
        full = self.output_full.value if self.output_full is not None else None
        output = self.output if isinstance(self.output, str) else None
        return is_nsfw_placeholder(output) or is_nsfw_placeholder(full)


class BotGlif(_Model, frozen=True):
    """The glif behind a bot's skill: the official client shows only its ``id`` and ``name``."""

    id: str
    name: str | None = None


class BotSkill(_Model, frozen=True):
    """One skill of a bot (an element of ``spellsForBot``): a glif, optionally renamed and
    described for the bot."""

    spell: BotGlif | None = None
    spell_id: str | None = None
    custom_name: str | None = None
    custom_description: str | None = None
    usage_instructions: str | None = None
    native_tool_name: str | None = None

    @property
    def glif_id(self) -> str | None:
        return self.spell.id if self.spell is not None else self.spell_id

    @property
    def display_name(self) -> str | None:
        return self.custom_name or (self.spell.name if self.spell is not None else None)


class Bot(_Model, frozen=True):
    """An agent ("bot") of ``/api/bots``, an endpoint Glif never documented: these are the keys
    the official MCP client's schema names, nothing more.

    The dates stay strings: that schema accepts any string there, not only ISO 8601.
    """

    id: str
    name: str | None = None
    username: str | None = None
    bio: str | None = None
    user_id: str | None = None
    image: str | None = None
    memory: str | None = None
    personality: str | None = None
    deployed_at: str | None = None
    chat_response_glif_id: str | None = None
    message_count: int | float | None = None
    conversation_starters: list[object] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    theme_css: str | None = None
    user: User | None = None
    spells_for_bot: list[BotSkill] | None = None

    @property
    def skills(self) -> list[BotSkill]:
        """The glifs the bot uses, as skills (``spellsForBot``)."""
        return self.spells_for_bot or []

    @property
    def glif_ids(self) -> list[str]:
        """The ids of the glifs the bot uses, in its order, without repeats."""
        # A blank id names no glif (following it as one would fail the lookup, not the skill).
        return list(dict.fromkeys(s.glif_id for s in self.skills if s.glif_id and s.glif_id.strip()))


T = TypeVar("T")


class _Decoders(Generic[T]):
    """A JSON decoder for ``T`` and for ``list[T]``, built once."""

    def __init__(self, tp: type[T]) -> None:
        self.one: Final = msgspec.json.Decoder(tp)
        self.many: Final = msgspec.json.Decoder(list[tp])  # type: ignore[valid-type]


GLIF: Final = _Decoders(Glif)
RUN: Final = _Decoders(Run)
USER: Final = _Decoders(User)
SPHERE: Final = _Decoders(Sphere)
BOT: Final = _Decoders(Bot)
ME: Final = msgspec.json.Decoder(Me)
RUN_RESULT: Final = msgspec.json.Decoder(RunResult)
ANY: Final = msgspec.json.Decoder()
ENCODER: Final = msgspec.json.Encoder()
