"""The pure rules: Retry-After, status mapping, retry decisions, argument checks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

import aioglif as g
from aioglif import _protocol as p
from aioglif._retry import RetryPolicy, Safety

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        # A date names a whole second: the wait runs to its end.
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 31.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        (format_datetime(NOW, usegmt=True), 1.0),
        ("Fri, 27 Nov 2026 12:01:00 GMT", 61.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_both_forms(header: str | None, seconds: float | None) -> None:
    assert p.parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, g.APIStatusError),
        (401, g.AuthenticationError),
        (403, g.PermissionDeniedError),
        (404, g.NotFoundError),
        (409, g.APIStatusError),
        (429, g.RateLimitedError),
        (500, g.ServerError),
        (502, g.ServerError),
        (503, g.ServerError),
        (504, g.ServerError),
    ],
)
def test_status_maps_to_exception(status: int, cls: type[g.APIStatusError]) -> None:
    err = p.status_error(status, b'{"error": "nope"}', method="GET", url="http://h/api/x", retry_after=2.0)
    assert type(err) is cls
    assert isinstance(err, g.GlifError)
    assert err.status == status and err.retry_after == 2.0
    assert "nope" in str(err) and "GET http://h/api/x" in str(err)


def test_status_error_message_without_json_body_is_an_excerpt() -> None:
    err = p.status_error(502, b"<html>" + b"x" * 5000 + b"</html>", method="GET", url="u")
    assert len(str(err)) < 400
    assert err.body.startswith(b"<html>")


def test_status_error_redacts_a_secret_echoed_by_the_server() -> None:
    err = p.status_error(
        401, b'{"error": "bad token glif_s3cr3t"}', method="GET", url="u", secret="glif_s3cr3t"
    )
    assert "glif_s3cr3t" not in str(err) and "***" in str(err)


@pytest.mark.parametrize(
    ("error", "safety", "expected"),
    [
        (g.ConnectError("refused"), Safety.UNSENT, True),
        (g.ConnectError("refused"), Safety.UNSTARTED, True),
        (g.TransportError("reset"), Safety.IDEMPOTENT, True),
        (g.TransportError("reset"), Safety.UNSTARTED, False),
        (g.TransportError("reset"), Safety.UNSENT, False),
        (g.TooManyRedirects("loop"), Safety.IDEMPOTENT, False),
        (g.TimeoutError("read"), Safety.UNSTARTED, False),
        (g.TimeoutError("connect", request_sent=False), Safety.UNSTARTED, True),
        (g.ServerError("x", status=503), Safety.IDEMPOTENT, True),
        (g.ServerError("x", status=501), Safety.IDEMPOTENT, False),
        (g.ServerError("x", status=503), Safety.UNSTARTED, False),
        (g.RateLimitedError("x"), Safety.UNSTARTED, True),
        (g.RateLimitedError("x"), Safety.UNSENT, False),
        (g.NotFoundError("x", status=404), Safety.IDEMPOTENT, False),
        (g.AuthenticationError("x", status=401), Safety.IDEMPOTENT, False),
    ],
)
def test_should_retry(error: g.GlifError, safety: Safety, expected: bool) -> None:
    assert p.should_retry(error, safety) is expected


def test_decode_errors_retry_only_when_malformed_and_idempotent() -> None:
    malformed = g.ResponseDecodeError("x")
    malformed.malformed = True
    shape = g.ResponseDecodeError("x")
    assert p.should_retry(malformed, Safety.IDEMPOTENT)
    assert not p.should_retry(malformed, Safety.UNSTARTED)
    assert not p.should_retry(shape, Safety.IDEMPOTENT)


def test_backoff_is_full_jitter_within_an_exponential_cap() -> None:
    policy = RetryPolicy(initial=0.5, maximum=4.0, multiplier=2.0)
    rng = random.Random(1)
    for retry, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0.0 <= w <= cap for w in waits)
        assert max(waits) > cap * 0.8  # jitter spreads over the whole range, not just near 0
    assert policy.delay(1, retry_after=10.0, rng=rng) == 10.0


def test_a_pause_is_never_shorter_than_one_backoff_step() -> None:
    policy = RetryPolicy(initial=0.5, maximum=4.0, multiplier=2.0)
    assert policy.pause(1, None) == 0.5
    assert policy.pause(1, 0.0) == 0.5  # "Retry-After: 0" or a date already past
    assert policy.pause(3, 0.2) == 2.0
    assert policy.pause(1, 7.0) == 7.0


def test_policy_caps_attempts_and_elapsed_time() -> None:
    policy = RetryPolicy(attempts=3, max_elapsed=10.0)
    assert policy.allows(1, 0.0, 1.0) and policy.allows(2, 0.0, 1.0)
    assert not policy.allows(3, 0.0, 1.0)
    assert not policy.allows(1, 9.5, 1.0)
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize("limit", [0, 101, -1, True, 2.5])
def test_limit_outside_1_to_100_is_rejected(limit: object) -> None:
    with pytest.raises(ValueError, match="1 to 100"):
        p.check_limit(limit)  # type: ignore[arg-type]


def test_exactly_one_and_at_most_one() -> None:
    assert p.exactly_one("f", id="x", slug=None) == ("id", "x")
    with pytest.raises(ValueError, match="exactly one"):
        p.exactly_one("f", id="x", slug="y")
    with pytest.raises(ValueError, match="exactly one"):
        p.exactly_one("f", id=None, slug=None)
    with pytest.raises(ValueError, match="non-empty"):
        p.exactly_one("f", id="  ", slug=None)
    with pytest.raises(ValueError, match="at most one"):
        p.at_most_one("f", a="1", b="2")


def test_run_body_forms_and_checks() -> None:
    assert p.run_body("g", {"a": "1"}, None) == {"id": "g", "inputs": {"a": "1"}}
    assert p.run_body("g", ["1", "2"], "public") == {"id": "g", "inputs": ["1", "2"], "visibility": "PUBLIC"}
    for bad in ("just a string", {"a": 1}, [1], {"": "x"}):
        with pytest.raises(ValueError, match="input"):
            p.run_body("g", bad, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="visibility"):
        p.run_body("g", [], "friends")
    with pytest.raises(ValueError, match="glif id"):
        p.run_body("", [], None)


def test_query_drops_unset_and_encodes_flags() -> None:
    assert p.query(a=None, b=False, c=True, d="x", e=3) == {"c": "1", "d": "x", "e": "3"}
