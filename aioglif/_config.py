"""One frozen settings object for a client: where to connect, how long to wait, how fast to go."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from ._retry import RetryPolicy
from ._version import __version__

__all__ = ["Settings", "Timeouts", "Token"]

DEFAULT_API_URL: Final = "https://glif.app/api"
DEFAULT_SIMPLE_API_URL: Final = "https://simple-api.glif.app"
ENV_TOKEN: Final = "GLIF_API_TOKEN"
ENV_API_URL: Final = "GLIF_API_URL"
ENV_SIMPLE_API_URL: Final = "GLIF_SIMPLE_API_URL"


class Token:
    """An API token that will not print itself: repr, str and equality never reveal it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value or value != value.strip():
            raise ValueError("the API token must be a non-empty string without surrounding spaces")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Token('***')"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:
        # Pickling would write the secret to wherever the pickle goes.
        raise TypeError("a Token cannot be pickled")


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait; None: no limit.

    ``connect``: opening a connection. ``read``: between two bytes of an answer. ``total``: one
    attempt of a request, from sending it to the last byte of its answer, so that a server that
    drips a byte now and then cannot hold a request forever. ``run_read`` and ``run_total`` are
    the same for the Simple API, where a glif may take minutes before its first byte.
    Retries multiply them: a request takes at most ``total`` times the retry attempts, plus waits.
    """

    connect: float | None = 10.0
    read: float | None = 60.0
    total: float | None = 300.0
    run_read: float | None = 600.0
    run_total: float | None = 900.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total", "run_read", "run_total"):
            value = getattr(self, name)
            # "not value > 0" also refuses NaN; inf is no limit, said the long way.
            if value is not None and (isinstance(value, bool) or not 0 < value < float("inf")):
                raise ValueError(f"timeout {name} must be a positive number of seconds or None, got {value}")

    @classmethod
    def overall(cls, seconds: float) -> Timeouts:
        """At most ``seconds`` per attempt of any request, runs included (the CLI's ``--timeout``)."""
        return cls(read=min(seconds, 60.0), total=seconds, run_read=min(seconds, 600.0), run_total=seconds)


# The most a client reads of one answer (decompressed), unless told otherwise: far above any
# page the API serves (100 glifs with their graphs is a few MiB), far below a machine's memory.
DEFAULT_MAX_BODY: Final = 64 * 2**20
# Answers larger than this are read one at a time, so that concurrency does not multiply
# ``max_body``: 16 in flight wait holding 64 MiB at most. Real pages are far smaller.
DEFAULT_LARGE_BODY: Final = 4 * 2**20


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL with a host, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError:
        raise ValueError(f"{name} has an invalid port (1-65535): {url!r}") from None
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{name} must not carry credentials, a query or a fragment")
    return url.rstrip("/")


def _check_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """A read-only copy of headers safe to send, or a clear error before any request."""
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"header names and values must be strings, got {name!r}: {type(value).__name__}")
        if not name or any(c in name for c in " \t\r\n:") or any(c in value for c in "\r\n\0"):
            # A newline would start another header (or another request) on the wire.
            raise ValueError(f"invalid header {name!r}: no spaces, colons or line breaks")
        if name.lower() == "authorization":
            # The token has one way in (``token=``), so it stays out of reprs and goes only to
            # the configured hosts.
            raise ValueError("pass the token as token=, not as an Authorization header")
        checked[name] = value
    return MappingProxyType(checked)


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL: the unit a token is allowed to travel to."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, (parts.hostname or "").lower(), port)


@dataclass(frozen=True)
class Settings:
    """Everything a client is configured with. Build it with :meth:`from_args`."""

    api_url: str = DEFAULT_API_URL
    simple_api_url: str = DEFAULT_SIMPLE_API_URL
    token: Token | None = field(default=None, repr=True)
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Requests per second through one client; None switches the limiter off. 10/s is what
    # third-party clients self-impose on an API that publishes no number.
    rate: float | None = 10.0
    max_in_flight: int = 16
    max_redirects: int = 5
    max_body: int = DEFAULT_MAX_BODY  # bytes of one answer, decompressed
    large_body: int = DEFAULT_LARGE_BODY  # bytes past which answers are read one at a time
    user_agent: str = f"aioglif/{__version__}"
    # Sent with every request; a "User-Agent" here replaces ``user_agent``.
    default_headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_headers", _check_headers(self.default_headers))
        object.__setattr__(self, "api_url", _check_url("api_url", self.api_url))
        object.__setattr__(self, "simple_api_url", _check_url("simple_api_url", self.simple_api_url))
        if self.rate is not None and not 0 < self.rate < float("inf"):
            raise ValueError(
                f"rate must be a positive, finite number of requests per second or None, got {self.rate}"
            )
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        if isinstance(self.max_body, bool) or not isinstance(self.max_body, int) or self.max_body < 1:
            raise ValueError(f"max_body must be a positive number of bytes, got {self.max_body!r}")
        if isinstance(self.large_body, bool) or not isinstance(self.large_body, int) or self.large_body < 1:
            raise ValueError(f"large_body must be a positive number of bytes, got {self.large_body!r}")

    @classmethod
    def from_args(
        cls,
        token: str | None = None,
        *,
        api_url: str | None = None,
        simple_api_url: str | None = None,
        **options: object,
    ) -> Settings:
        """Settings from explicit arguments, falling back to the ``GLIF_*`` environment variables."""
        raw = token if token is not None else (os.environ.get(ENV_TOKEN) or None)
        return cls(
            api_url=api_url or os.environ.get(ENV_API_URL) or DEFAULT_API_URL,
            simple_api_url=simple_api_url or os.environ.get(ENV_SIMPLE_API_URL) or DEFAULT_SIMPLE_API_URL,
            token=Token(raw) if raw is not None else None,
            **options,  # type: ignore[arg-type]
        )

    @property
    def token_origins(self) -> frozenset[tuple[str, str, int]]:
        """The only places the token is ever sent to."""
        return frozenset({origin(self.api_url), origin(self.simple_api_url)})
