"""The seam between the polite sender and the network: what a wire is given and returns.

No aiohttp here: :mod:`aioglif._sender` builds on these types only, and a wire of your own
needs nothing else. Public as :mod:`aioglif.wire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import msgspec

from . import _errors as e

__all__ = ["Request", "Response", "Wire", "secrets_of", "scrub", "too_large", "total_timeout"]


# Structs, not dataclasses: one of each per request, and a Struct is made in C (a frozen
# dataclass's __init__ runs a Python call per field). No cycle runs through them: untracked.
class Request(msgspec.Struct, frozen=True, gc=False):
    """One HTTP request, fully formed: the wire adds nothing but what its session always sends."""

    method: str
    url: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    content: bytes | None = None
    read_timeout: float | None = None  # between two bytes; None: the wire's default
    total_timeout: float | None = None  # from sending to the last byte; None: no limit
    max_body: int | None = None  # bytes of the answer, decompressed; None: no limit

    def __repr__(self) -> str:
        # A wire that logs its requests must not log the token: the credentials are shown masked.
        secrets = secrets_of(self)
        # As repr shows them too: a backslash, a quote or an unprintable character is escaped.
        secrets += tuple(repr(secret)[1:-1] for secret in secrets)
        fields = ", ".join(
            f"{name}={scrub(repr(getattr(self, name)), secrets)}" for name in self.__struct_fields__
        )
        return f"Request({fields})"


class Response(msgspec.Struct, frozen=True, gc=False):
    """One HTTP answer. ``headers`` look up case-insensitively; ``url`` is where it came from."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str


class Wire(Protocol):
    """What the sender needs from the network: one request in, one whole answer out."""

    async def open(self) -> None: ...

    async def send(self, request: Request) -> Response: ...

    async def close(self) -> None: ...


def secrets_of(request: Request) -> tuple[str, ...]:
    """What of a request must never be shown: its credentials, as sent."""
    headers = request.headers or {}
    auth = headers.get("Authorization")
    if auth is None:  # a header's name is any case (asked only to show or to raise: no cost per request)
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not auth:
        return ()
    _scheme, _, value = auth.partition(" ")
    return (auth, value) if value else (auth,)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def too_large(request: Request, limit: int) -> e.ResponseTooLarge:
    return e.ResponseTooLarge(
        f"the answer is larger than max_body ({limit:,} bytes): reading stopped there",
        limit=limit,
        method=request.method,
        url=request.url,
    )


def total_timeout(request: Request) -> e.TimeoutError:
    return e.TimeoutError(
        f"no whole answer within the total timeout of {request.total_timeout:g}s",
        method=request.method,
        url=request.url,
    )
