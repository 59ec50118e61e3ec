"""The raw answer behind a call: status, headers and body, next to what they decoded into."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._wiretypes import Response

__all__ = ["RawResponse"]

T = TypeVar("T")


@dataclass(frozen=True)
class RawResponse(Generic[T]):
    """What :meth:`GlifClient.raw` returns: the last answer a call read, and its result.

    ``headers`` look up case-insensitively; their values and ``content`` are redacted like
    errors' (a server that echoes the token cannot hand it out here).
    """

    status_code: int
    headers: Mapping[str, str]
    url: str
    content: bytes
    parsed: T


# Set by GlifClient.raw for the length of one call: the sender appends each answer it decodes.
# A context variable, so that concurrent calls on one client each see only their own answers.
CAPTURE: ContextVar[list[Response] | None] = ContextVar("aioglif_raw_capture", default=None)
