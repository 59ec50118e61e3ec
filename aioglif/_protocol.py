"""The rules of the Glif API as pure functions: no I/O, tested without a server or a clock."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal, TypeVar

import msgspec

from . import _errors as e
from ._redact import redact, redact_body, redacted_headers
from ._retry import Safety, retryable_status

T = TypeVar("T")

MAX_LIMIT: Final = 100
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_PATH = re.compile(r" - at `(?P<path>[^`]*)`$")
# How the Simple API says a glif does not exist (or is private, or the token cannot see it):
# "could not fetch glif" in a 5xx (third-party code, 2026), "... not found" in a 200 + error.
NOT_FOUND_TEXT: Final = re.compile(
    r"could not (?:fetch|find|load) (?:the )?(?:glif|workflow|spell)"
    r"|\b(?:glif|workflow|spell)\b[^.\n]{0,60}\bnot found"
    r"|\bno (?:such )?(?:glif|workflow|spell)\b",
    re.IGNORECASE,
)
# msgspec raises these besides DecodeError: UnicodeDecodeError (a ValueError) for bytes that are
# not UTF-8, RecursionError for JSON nested deeper than the stack; a decoder of ours may raise
# ValueError or TypeError on a shape it cannot use.
_UNDECODABLE: Final = (msgspec.DecodeError, ValueError, TypeError, RecursionError)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP-date (RFC 9110),
    the date rounded up to the end of the second it names."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None  # NaN or inf is no advice
    when = parse_http_date(value)
    if when is None:
        return None
    # An HTTP-date names a whole second; a server that formats "now + wait" truncates, so the
    # moment it means lies anywhere in that second. Waiting to its end is the only safe reading.
    return max(0.0, when + 1.0 - (now or datetime.now(timezone.utc)).timestamp())


def parse_http_date(value: str | None) -> float | None:
    """An HTTP-date header (``Date``) as seconds since the epoch, or None: total, whatever the
    string (a day or year too large for a date is None, not an OverflowError)."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _message_from_body(body: bytes) -> str | None:
    try:
        data = msgspec.json.decode(body)
    except _UNDECODABLE:
        return None
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def status_error(
    status: int,
    body: bytes,
    *,
    method: str,
    url: str,
    retry_after: float | None = None,
    secret: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> e.APIStatusError:
    """The exception for a non-2xx answer, its message taken from the body where there is one."""
    body = redact_body(body, secret)
    # Redacted whole, then cut: a token at the cut would otherwise show its first characters.
    detail = redact(_message_from_body(body) or e.excerpt(body) or "no body", secret)
    message = f"HTTP {status}: {e.excerpt(detail)}"
    kwargs: dict[str, Any] = {"status": status, "body": body, "method": method, "url": url}
    cls: type[e.APIStatusError]
    if status == 401:
        cls = e.AuthenticationError
    elif status == 403:
        cls = e.PermissionDeniedError
    elif status == 404:
        cls = e.NotFoundError
    elif status == 429:
        limited = e.RateLimitedError(message, retry_after=retry_after, **kwargs)
        limited.headers = redacted_headers(headers, secret)
        return limited
    elif status >= 500:
        # A 5xx that says the glif cannot be fetched is an answer, not a failure: not retried.
        cls = e.NotFoundError if says_not_found(detail) else e.ServerError
    else:
        cls = e.APIStatusError
    err = cls(message, **kwargs)
    err.retry_after = retry_after
    err.headers = redacted_headers(headers, secret)
    return err


def is_malformed(body: bytes) -> bool:
    """True when the body is not JSON at all (truncated, HTML error page, not UTF-8), not merely
    misshapen or nested too deep."""
    try:
        msgspec.json.decode(body)
    except (msgspec.DecodeError, ValueError):
        return True
    except RecursionError:
        return False
    return False


def decode(decoder: Callable[[bytes], T], body: bytes, *, method: str, url: str) -> T:
    """Decode a body; every way that fails is a :class:`ResponseDecodeError` (with the JSON path
    where msgspec gives one): invalid JSON or UTF-8, nesting too deep, numbers out of range,
    wrong shapes. Nothing else escapes, whatever the bytes."""
    try:
        return decoder(body)
    except _UNDECODABLE as exc:
        repaired = _without_lone_surrogates(body)
        if repaired is not None:
            try:
                return decoder(repaired)
            except _UNDECODABLE:
                pass  # something else is wrong too: the first error says what
        text = _describe(exc)
        match = _PATH.search(text)
        malformed = is_malformed(body)
        what = "invalid JSON" if malformed else "unexpected response shape"
        err = e.ResponseDecodeError(
            f"{what}: {text}", path=match["path"] if match else None, body=body, method=method, url=url
        )
        err.malformed = malformed
        raise err from exc


# A JSON escape, one at a time so that an escaped backslash is never read as the start of
# another: a surrogate pair (kept), half of one (group 1), or anything else (kept).
_ESCAPE: Final = re.compile(
    rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    rb"|(u[dD][89a-fA-F][0-9a-fA-F]{2})|.)",
    re.DOTALL,
)


def _without_lone_surrogates(body: bytes) -> bytes | None:
    """The body with each half of a surrogate pair standing alone written as U+FFFD, or None when
    it holds none. JavaScript's JSON.stringify writes one as ``"\\ud83c"`` (a name cut in the
    middle of an emoji); msgspec refuses the whole body for it, which would fail a whole page."""
    if b"\\ud" not in body and b"\\uD" not in body:
        return None
    fixed = _ESCAPE.sub(lambda m: b"\\ufffd" if m.group(1) else m.group(0), body)
    return fixed if fixed != body else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.start})"
    if isinstance(exc, RecursionError):
        return "JSON nested too deep"
    return str(exc)


def should_retry(error: e.GlifError, safety: Safety) -> bool:
    """Whether a failed attempt may be repeated, given how safe repeating the request is."""
    if isinstance(error, (e.TooManyRedirects, e.NotFoundError, e.ResponseTooLarge)):
        return False
    if isinstance(error, e.TransportError):
        return not error.request_sent or safety is Safety.IDEMPOTENT
    if isinstance(error, e.APIStatusError):
        return retryable_status(error.status, safety)
    if isinstance(error, e.ResponseDecodeError):
        return safety is Safety.IDEMPOTENT and error.malformed
    return False


def check_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit (page size) must be an int from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def exactly_one(what: str, **options: str | None) -> tuple[str, str]:
    """The one option that is set among mutually exclusive ones, e.g. ``id=`` or ``slug=``."""
    given = {k: v for k, v in options.items() if v is not None}
    if len(given) != 1:
        names = " or ".join(f"{k}=" for k in options)
        raise ValueError(f"{what} takes exactly one of {names}, got {len(given)}")
    ((key, value),) = given.items()
    return key, check_id(value, key)


def at_most_one(what: str, **options: str | None) -> None:
    given = [k for k, v in options.items() if v is not None]
    if len(given) > 1:
        raise ValueError(f"{what} takes at most one of {', '.join(given)}")
    for key, value in options.items():
        if value is not None:
            check_id(value, key)


def query(**params: str | int | bool | None) -> dict[str, str]:
    """Query parameters with None left out and booleans as the API's ``1``."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None or value is False:
            continue
        out[key] = "1" if value is True else str(value)
    return out


# How the Simple API says, in a 200 + error, that the run was not started for the moment (a rate
# limit, a cap on concurrent runs), or that the account cannot pay for it.
RATE_LIMIT_TEXT: Final = re.compile(
    r"rate.?limit|too many (?:requests|concurrent|runs|simultaneous)|concurren\w* (?:limit|runs?)"
    r"|runs? in progress|slow down|try again (?:later|in)",
    re.IGNORECASE,
)
NO_CREDITS_TEXT: Final = re.compile(
    r"(?:not enough|insufficient|out of|no (?:more )?|run out of)\s*credits?|credits? (?:exhausted|limit)"
    r"|payment required|quota exceeded",
    re.IGNORECASE,
)

RunErrorKind = Literal["rate_limited", "out_of_credits", "not_found", "failed"]


def run_error_kind(message: str) -> RunErrorKind:
    """What a Simple API ``error`` text means (it answers 200 + ``error``, "for legacy reasons").

    ``rate_limited``: the run did not start; try again later, like a 429. ``out_of_credits``:
    no run will start. ``not_found``: the glif id is wrong. ``failed``: the run itself failed.
    """
    if says_not_found(message):
        return "not_found"
    if NO_CREDITS_TEXT.search(message):
        return "out_of_credits"
    if RATE_LIMIT_TEXT.search(message):
        return "rate_limited"
    return "failed"


def says_not_found(message: str | None) -> bool:
    """Whether an error text is the Simple API's way of saying the glif does not exist."""
    return bool(message) and NOT_FOUND_TEXT.search(message or "") is not None


def empty_answer(body: bytes) -> str | None:
    """What a lookup's 2xx body says when it holds nothing, or None when it holds data.

    Unknown ids come back as ``[]`` (the evidence), and plausibly as ``null``, ``{}`` or
    ``{"error": "..."}``: each is "not found". The result is the server's message, or "".
    """
    text = body.strip()
    if text in (b"[]", b"null", b"{}", b""):
        return ""
    if not text.startswith(b"{") or b'"error"' not in text:
        return None
    try:
        data = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    if isinstance(data, dict) and "error" in data and "id" not in data:
        message = data["error"]
        return message if isinstance(message, str) else ""
    return None


def first_or_not_found(
    items: Sequence[T], what: str, key: str, *, url: str, method: str = "GET", detail: str | None = None
) -> T:
    """The Glif API answers ``[]`` for an unknown ``?id=``: that is a 404 in our terms."""
    if not items:
        said = f": {e.excerpt(detail)}" if detail else ""
        raise e.NotFoundError(f"no {what} with {key}{said}", status=404, method=method, url=url)
    return items[0]


def run_body(
    glif_id: str, inputs: Mapping[str, str] | Sequence[str], visibility: str | None
) -> dict[str, Any]:
    """The documented Simple API request body: ``id`` and ``inputs`` (named or positional)."""
    check_id(glif_id, "glif id")
    if isinstance(inputs, (str, bytes)):
        raise ValueError("inputs must be a mapping of block names to strings or a list of strings")
    if isinstance(inputs, Mapping):
        for name, value in inputs.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"input names must be non-empty strings, got {name!r}")
            if not isinstance(value, str):
                raise ValueError(f"input {name!r} must be a string (the API takes only strings)")
        payload: Any = dict(inputs)
    else:
        payload = list(inputs)
        for i, value in enumerate(payload):
            if not isinstance(value, str):
                raise ValueError(f"input {i} must be a string (the API takes only strings)")
    body: dict[str, Any] = {"id": glif_id, "inputs": payload}
    if visibility is not None:
        if visibility.upper() not in ("PUBLIC", "PRIVATE"):
            raise ValueError(f"visibility must be 'PUBLIC' or 'PRIVATE', got {visibility!r}")
        body["visibility"] = visibility.upper()
    return body


BOT_SORTS: Final = ("new", "popular", "featured")


def bots_query(sort: str | None, query: str | None, creator: str | None) -> dict[str, str]:
    """The query of ``/api/bots`` as the official client sends it: ``sort``, ``searchQuery``
    and ``creator`` (a username). It sends no ``page`` or ``limit``: the listing is one answer."""
    if sort is not None and sort not in BOT_SORTS:
        raise ValueError(f"sort must be one of {', '.join(BOT_SORTS)}, got {sort!r}")
    if query is not None and (not isinstance(query, str) or not query.strip()):
        raise ValueError(f"query must be a non-empty string, got {query!r}")
    if creator is not None:
        check_id(creator, "creator")
    return {k: v for k, v in (("sort", sort), ("searchQuery", query), ("creator", creator)) if v is not None}
