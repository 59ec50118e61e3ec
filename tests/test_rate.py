"""The adaptive rate against the fake server's limiter shapes, on a virtual clock (no sleeping).

The client is modelled as the sender behaves: requests paced at the controller's rate, a 429
pauses everyone for Retry-After (at least a backoff step), then one probe goes alone.
"""

from __future__ import annotations

import heapq
import math
import random

import pytest

from aioglif._rate import AdaptiveRate
from aioglif._retry import RetryPolicy
from aioglif.testing._limits import make_limiter

LIMIT = 20.0


def crawl(shape: str, seconds: float, **kw: float) -> tuple[float, float]:
    """Share of the limit reached and share of requests answered 429 for ``seconds × LIMIT`` requests."""
    rng = random.Random(1)
    limiter = make_limiter(shape, LIMIT, **kw)  # type: ignore[arg-type]
    rate, policy = AdaptiveRate(), RetryPolicy()
    work = pending = int(seconds * LIMIT)
    t = next_send = pause_until = 0.0
    done = sent = limited = strikes = 0
    probing = probe_out = False
    answers: list[tuple[float, bool, float, bool, float]] = []  # (at, ok, sent, probe, wait)
    while done < work:
        send_at = max(next_send, pause_until) if pending and not probe_out else math.inf
        if send_at <= (answers[0][0] if answers else math.inf):
            t = send_at
            arrive = t + rng.uniform(0, 0.004)
            verdict = limiter.admit(arrive)
            latency = 0.01 + rng.uniform(0, 0.01) if verdict.allowed else 0.001
            heapq.heappush(answers, (arrive + latency, verdict.allowed, t, probing, verdict.wait))
            probe_out, probing = probing, False
            pending, sent, next_send = pending - 1, sent + 1, t + 1.0 / rate.rate
            continue
        t, ok, sent_at, probe, wait = heapq.heappop(answers)
        probe_out = probe_out and not probe
        if ok:
            done, strikes = done + 1, 0
            rate.on_success(t)
            continue
        limited, pending = limited + 1, pending + 1
        strikes = strikes + 1 if probe else max(strikes, 1)
        pause = policy.pause(strikes, max(1, math.ceil(wait)))
        pause_until, probing = max(pause_until, t + pause), True
        rate.on_pause(t, pause)
        if not probe:
            rate.on_rate_limited(t, sent_at)
    return done / t / LIMIT, limited / sent


@pytest.mark.parametrize(
    ("shape", "kw", "least"),
    [
        ("bucket", {"burst": 20}, 0.9),  # slow start overshoots a large burst by far
        ("sliding", {"window": 10.0}, 0.9),
        # Every 429 comes at a window's end with "Retry-After: 1": the next window is lost.
        ("fixed", {"window": 1.0}, 0.85),
    ],
)
def test_an_unknown_limit_is_found_without_many_429s(shape: str, kw: dict[str, float], least: float) -> None:
    share, limited = crawl(shape, 75, **kw)
    assert share >= least
    assert limited < 0.01


def test_429s_of_requests_sent_before_a_decrease_are_one_event() -> None:
    rate = AdaptiveRate(rate=40.0)
    rate.on_success(0.0)
    first = rate.on_rate_limited(5.0, sent_at=4.9)
    assert first is not None and first < 40.0
    assert rate.on_rate_limited(5.01, sent_at=4.95) is None  # sent before the decrease
    assert rate.on_rate_limited(6.5, sent_at=6.0) is not None


def test_a_rate_told_is_kept_until_a_429_and_never_exceeded_after() -> None:
    rate = AdaptiveRate(rate=20.0, cap=20.0)
    for t in range(1, 30):
        assert rate.on_success(float(t)) is None  # no slow start, no probing past the cap
    assert rate.rate == 20.0
    lower = rate.on_rate_limited(30.0, sent_at=29.9)
    assert lower is not None and lower < 20.0
    for t in range(31, 400):
        rate.on_success(float(t))
    assert rate.rate == 20.0  # climbed back, and no further
