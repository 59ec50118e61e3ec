"""Decoding pages record by record: each record keeps its JSON as sent, and one that the models
cannot decode is set aside (quarantined) instead of failing its page."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

import msgspec

from .. import models as m

T = TypeVar("T")

_RAWS: Final = msgspec.json.Decoder(list[msgspec.Raw])
_SPHERE_BODY: Final = msgspec.json.Decoder(dict[str, msgspec.Raw] | list[msgspec.Raw])


class Item(Generic[T]):
    """A record of a page: its model (None if quarantined), its raw JSON, and the decode error."""

    __slots__ = ("error", "model", "raw")

    def __init__(self, model: T | None, raw: bytes, error: str | None = None) -> None:
        self.model = model
        self.raw = raw
        self.error = error

    @property
    def id(self) -> str:
        # A quarantined record may have no readable id: its bytes stand in for one.
        return self.model.id if self.model is not None else "raw:" + self.raw.hex()[:64]  # type: ignore[attr-defined]

    @property
    def created_at(self) -> datetime | None:
        return getattr(self.model, "created_at", None)


class Timer:
    """Seconds spent decoding, summed."""

    def __init__(self) -> None:
        self.seconds = 0.0


def harvesting(tp: type[T], timer: Timer) -> Callable[[bytes], list[Item[T]]]:
    decoder = msgspec.json.Decoder(tp)

    def decode(body: bytes) -> list[Item[T]]:
        start = time.perf_counter()
        try:
            return _items(decoder, _RAWS.decode(body))
        finally:
            timer.seconds += time.perf_counter() - start

    return decode


def harvesting_sphere_glifs(timer: Timer) -> Callable[[bytes], list[Item[m.Glif]]]:
    """A sphere's glifs in either shape: a sphere object holding them, or an array."""
    decoder = msgspec.json.Decoder(m.Glif)

    def decode(body: bytes) -> list[Item[m.Glif]]:
        start = time.perf_counter()
        try:
            data: Any = _SPHERE_BODY.decode(body)
            if isinstance(data, dict):
                inner = data.get("glifs") or data.get("spells")
                data = _RAWS.decode(inner) if inner is not None else []
            return _items(decoder, data)
        finally:
            timer.seconds += time.perf_counter() - start

    return decode


def _items(decoder: msgspec.json.Decoder[T], raws: list[msgspec.Raw]) -> list[Item[T]]:
    out: list[Item[T]] = []
    for raw in raws:
        try:
            out.append(Item(decoder.decode(raw), bytes(raw)))
        except msgspec.ValidationError as exc:
            out.append(Item(None, bytes(raw), str(exc)))
        except (ValueError, RecursionError) as exc:
            # Not UTF-8, or nested too deep: this record is set aside, its page goes on.
            what = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "undecodable"
            out.append(Item(None, bytes(raw), f"{what}: {type(exc).__name__}"))
    return out
