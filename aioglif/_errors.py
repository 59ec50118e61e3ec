"""The exceptions of aioglif: one tree, so ``except GlifError`` catches everything we raise.

::

    GlifError
    ├── TransportError                 the request got no HTTP answer
    │   ├── ConnectError               connection could not be made (the request was not sent)
    │   ├── TimeoutError               connect, read or total timed out (also a builtin TimeoutError)
    │   ├── TooManyRedirects           a redirect loop, or a redirect we refuse to follow
    │   └── ResponseTooLarge           the answer passed the client's max_body (not retried)
    ├── APIStatusError                 the server answered with a non-2xx status
    │   ├── AuthenticationError        401
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404, or an empty answer to a lookup by id
    │   ├── RateLimitedError           429 (``retry_after`` in seconds, when the server said)
    │   └── ServerError                5xx
    ├── ResponseDecodeError            the body is not JSON, or not of the expected shape
    ├── RunFailedError                 the Simple API answered 200 with ``error`` in the body
    │   └── OutOfCreditsError          ... saying the account has no credits for the run
    ├── ListingError                   a listing cannot be exact on this server
    │   └── PageIgnoredError           the server answers every ``page`` with the same items
    └── ClientClosedError              the client is not open (never opened, or closed already)

Arguments that cannot make a valid request raise :class:`ValueError` before anything is sent.
No aiohttp or msgspec exception escapes: each is wrapped, and kept as ``__cause__``.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import RunResult

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "ClientClosedError",
    "ConnectError",
    "GlifError",
    "ListingError",
    "NotFoundError",
    "OutOfCreditsError",
    "PageIgnoredError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ResponseDecodeError",
    "ResponseTooLarge",
    "RunFailedError",
    "ServerError",
    "TimeoutError",
    "TooManyRedirects",
    "TransportError",
]

_EXCERPT = 200


def excerpt(body: bytes | str, limit: int = _EXCERPT) -> str:
    """A short, printable start of a body for error messages (never the whole payload)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GlifError(Exception):
    """Base of every error aioglif raises (bad arguments aside, which are ``ValueError``)."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        return f"{self.message}{where}"


class TransportError(GlifError):
    """No HTTP response: the connection failed, dropped, or timed out.

    ``request_sent`` is False only when the request provably never left (no connection was made).
    """

    request_sent: bool = True

    def __init__(
        self,
        message: str,
        *,
        request_sent: bool = True,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.request_sent = request_sent


class ConnectError(TransportError):
    """The connection could not be established, so the request cannot have reached the server."""

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message, request_sent=False, method=method, url=url)


class TimeoutError(TransportError, builtins.TimeoutError):  # noqa: A001 - mirrors httpx naming
    """Connecting, reading, or a whole attempt took longer than the configured timeout."""


class TooManyRedirects(TransportError):
    """More redirects than ``max_redirects``, or one to a URL that is not http(s). Not retried."""


class ResponseTooLarge(TransportError):
    """The answer (decompressed) passed the client's ``max_body``; reading stopped there.

    Not retried: a server that sends too much once will likely send it again.
    """

    def __init__(
        self, message: str, *, limit: int, method: str | None = None, url: str | None = None
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.limit = limit


class APIStatusError(GlifError):
    """The server answered with a status that is not 2xx."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: bytes = b"",
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status = status
        self.body = body
        # The server's Retry-After, in seconds, where it sent one (429 and some 503s).
        self.retry_after: float | None = None
        # The answer's headers (case-insensitive; values redacted like the body), as
        # openai-python's and httpx's errors carry them: rate-limit headers, request ids.
        self.headers: Mapping[str, str] = {}

    @property
    def status_code(self) -> int:
        """The HTTP status, under the name openai-python and httpx use."""
        return self.status


class AuthenticationError(APIStatusError):
    """401: the token is missing or invalid."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not do this."""


class NotFoundError(APIStatusError):
    """404, or an empty array for a lookup by id (the Glif API's way of saying "no such id")."""


class RateLimitedError(APIStatusError):
    """429 after the retries were spent; ``retry_after`` is the server's advice in seconds."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        retry_after: float | None = None,
        body: bytes = b"",
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, method=method, url=url)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the server failed."""


class ResponseDecodeError(GlifError):
    """The body is not valid JSON, or does not have the shape we expect.

    ``path`` is the JSON path of the offending value (``$[0].user.id``) when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        body: bytes = b"",
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.path = path
        self.body = body
        # Not JSON at all (truncated, an HTML page): worth another try; a wrong shape is not.
        self.malformed = False


class RunFailedError(GlifError):
    """The Simple API answered 200 but the run failed; ``result`` holds the decoded body."""

    def __init__(self, message: str, *, result: RunResult, body: bytes = b"", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.result = result
        self.body = body  # the answer as sent, kept whole: the run may have been paid for


class OutOfCreditsError(RunFailedError):
    """The Simple API said the account cannot pay for the run: no further run will start."""


class ListingError(GlifError):
    """A listing stopped because it could not go on exactly: what it yielded is still right."""


class PageIgnoredError(ListingError):
    """The server answered a later ``page`` with items already read: it does not honour ``page``,
    so only the first page can be listed. Seen once per path, it is remembered by the client."""


class ClientClosedError(GlifError, RuntimeError):
    """The client is used outside ``async with``: not opened yet, or closed already.

    Also a :class:`RuntimeError`, which is what it was before it was a :class:`GlifError`.
    """
