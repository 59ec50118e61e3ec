"""The fake server's limiter shapes count as the real ones do (pure: the clock is passed in)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import pytest

from aioglif.testing._limits import make_limiter, rate_limit_headers, retry_after_header


def _passed(limiter_shape: str, times: list[float], **kw: float) -> list[bool]:
    lim = make_limiter(limiter_shape, 10.0, **kw)  # type: ignore[arg-type]
    return [lim.admit(t).allowed for t in times]


def test_token_bucket_burst_then_the_rate() -> None:
    assert _passed("bucket", [0.0] * 12, burst=10) == [True] * 10 + [False] * 2
    # Burst 1: a strict spacing of 1/rate; one request a hair early is refused.
    assert _passed("bucket", [0.0, 0.1, 0.19, 0.31], burst=1) == [True, True, False, True]


def test_fixed_window_resets_at_once() -> None:
    times = [0.0] * 10 + [0.5, 1.0] + [1.0] * 9 + [1.01]
    assert _passed("fixed", times, window=1.0) == [True] * 10 + [False] + [True] * 10 + [False]


def test_sliding_window_counts_any_span() -> None:
    lim = make_limiter("sliding", 1.0, window=10.0)
    assert [lim.admit(t).allowed for t in range(10)] == [True] * 10
    refused = lim.admit(9.5)
    assert not refused.allowed and refused.wait == pytest.approx(0.5)  # the first leaves at 10
    assert lim.admit(10.0).allowed and not lim.admit(10.5).allowed


def test_concurrency_cap_counts_requests_being_answered() -> None:
    lim = make_limiter("concurrency", 2.0)
    assert [lim.admit(0).allowed for _ in range(3)] == [True, True, False]
    lim.release()
    assert lim.admit(0).allowed


def test_headers_in_each_style() -> None:
    lim = make_limiter("bucket", 10.0, burst=1)
    lim.admit(0.0)
    refused = lim.admit(0.02)
    assert retry_after_header(refused, "seconds", 0.0) == {"Retry-After": "1"}
    assert retry_after_header(refused, "none", 0.0) == {}
    # An HTTP-date names the moment itself, truncated to the second: here one already past.
    date = retry_after_header(refused, "date", 1_000_000.5)["Retry-After"]
    assert parsedate_to_datetime(date).timestamp() == 1_000_000
    assert rate_limit_headers(refused) == {
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1",
    }
