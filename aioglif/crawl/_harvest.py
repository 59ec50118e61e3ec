"""Decoding pages record by record: each record keeps its JSON as sent, and one that the models
cannot decode is set aside (quarantined) instead of failing its page."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from .._listings import Listing

T = TypeVar("T")


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


def harvesting(listing: Listing[T], timer: Timer) -> Callable[[bytes], list[Item[T]]]:
    """A page of ``listing`` as items that keep their JSON, wherever the body holds them."""
    decoder = msgspec.json.Decoder(listing.item)

    def decode(body: bytes) -> list[Item[T]]:
        start = time.perf_counter()
        try:
            return _items(decoder, listing.raw_items(body))
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
