"""One frozen settings object for a client: where to connect, how long to wait, how fast to go."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from ._retry import RetryPolicy

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
    """Seconds to wait. ``connect``: opening a connection; ``read``: between bytes of a response.

    There is no overall per-request limit by default, on purpose: aiohttp's ``total`` would also
    count the time spent waiting for a pooled connection. ``run_read`` is for the Simple API,
    where a glif may take minutes before its first byte.
    """

    connect: float | None = 10.0
    read: float | None = 60.0
    run_read: float | None = 600.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "run_read"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"timeout {name} must be positive or None, got {value}")


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL with a host, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{name} must not carry credentials, a query or a fragment")
    return url.rstrip("/")


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
    user_agent: str = "aioglif"

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_url", _check_url("api_url", self.api_url))
        object.__setattr__(self, "simple_api_url", _check_url("simple_api_url", self.simple_api_url))
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"rate must be positive (requests per second) or None, got {self.rate}")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")

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
