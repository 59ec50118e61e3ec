"""The adaptive rate against the fake server's limiter shapes, on a virtual clock (no sleeping).

The client is modelled as the sender behaves: requests paced at the controller's rate, a 429
pauses everyone for Retry-After (at least a backoff step), then one probe goes alone.
"""

from __future__ import annotations

import heapq
import math
import random
from typing import Any

import anyio
import pytest

from aioglif._quota import Quota
from aioglif._rate import AdaptiveRate
from aioglif._retry import RetryPolicy
from aioglif.testing import FakeData, FakeGlifServer, MemoryWire
from aioglif.testing._faults import Faults
from aioglif.testing._limits import make_limiter, rate_limit_headers

from .conftest import make_client

LIMIT = 20.0


def crawl(
    shape: str,
    seconds: float,
    *,
    told: float | None = None,
    latency: tuple[float, float] = (0.01, 0.02),
    jitter: float = 0.004,
    spikes: tuple[float, float] = (0.0, 0.0),
    slots: int = 16,
    seed: int = 1,
    retry_after: str = "seconds",
    cap: int | None = None,
    headers: bool = False,
    **kw: float,
) -> tuple[float, float]:
    """Share of the limit reached and share of requests answered 429 for ``seconds × LIMIT`` requests.

    The sender as it behaves: ``slots`` requests at most, paced at the controller's rate (one
    every 1/rate seconds, no burst), at most ``window`` on the wire; a 429 pauses everyone for
    its Retry-After (at least a backoff step), then one probe goes alone. Each request reaches
    the server up to ``jitter`` late, and with the chance ``spikes[0]`` up to ``spikes[1]`` more
    (a loaded machine: mostly on time, now and then a few milliseconds late); a refusal is
    answered at once, the rest after ``latency``.
    """
    rng = random.Random(seed)
    # A concurrency cap of ``cap`` requests being answered at once: LIMIT a second at most
    # when the latency is cap / LIMIT.
    limiter = make_limiter(shape, LIMIT if cap is None else cap, **kw)  # type: ignore[arg-type]
    rate = AdaptiveRate() if told is None else AdaptiveRate(rate=told, cap=told)
    policy = RetryPolicy()
    work = pending = int(seconds * LIMIT)
    t = next_send = pause_until = 0.0
    done = sent = limited = strikes = on_wire = 0
    probing = probe_out = False
    # (at, kind, ok, sent, probe, wait, in flight): kind 0 an answer, 1 the server's release
    events: list[tuple[float, int, bool, float, bool, float, int, dict[str, str]]] = []
    quota, pace = Quota(), math.inf  # X-RateLimit-* as the sender reads them, when sent
    while done < work:
        window = min(slots, rate.window or slots)
        ready = pending and not probe_out and on_wire < window
        send_at = max(next_send, pause_until, t) if ready else math.inf
        if send_at < math.inf and quota.seen:
            send_at += quota.wait(send_at)
        if send_at <= (events[0][0] if events else math.inf):
            t = send_at
            if quota.seen:
                quota.on_send(t)
            arrive = t + rng.uniform(0, jitter)
            if spikes[0] and rng.random() < spikes[0]:
                arrive += rng.uniform(0, spikes[1])
            verdict = limiter.admit(arrive)
            said = rate_limit_headers(verdict) if headers else {}
            on_wire += 1
            if verdict.allowed:
                end = arrive + rng.uniform(*latency)
                heapq.heappush(events, (end, 1, True, t, False, 0.0, 0, said))
                heapq.heappush(events, (end + 0.0005, 0, True, t, probing, 0.0, on_wire, said))
            else:
                heapq.heappush(events, (arrive + 0.001, 0, False, t, probing, verdict.wait, on_wire, said))
            probe_out, probing = probing, False
            pending, sent, next_send = pending - 1, sent + 1, t + 1.0 / min(rate.rate, pace)
            continue
        t, kind, ok, sent_at, probe, wait, level, said = heapq.heappop(events)
        if kind == 1:
            limiter.release()
            continue
        on_wire -= 1
        if said:
            pace = quota.observe(said, t, t, on_wire) or math.inf
        probe_out = probe_out and not probe
        if ok:
            done, strikes = done + 1, 0
            rate.on_success(t, level)
            continue
        limited, pending = limited + 1, pending + 1
        strikes = strikes + 1 if probe else max(strikes, 1)
        advice = None if retry_after == "none" else max(1, math.ceil(wait))
        pause = policy.pause(strikes, advice)
        pause_until, probing = max(pause_until, t + pause), True
        rate.on_pause(t, pause)
        if not probe:
            rate.on_rate_limited(t, sent_at, level)
    return done / t / LIMIT, limited / sent


@pytest.mark.parametrize(
    ("shape", "kw", "least"),
    [
        ("bucket", {"burst": 20}, 0.9),  # slow start overshoots a large burst by far
        ("sliding", {"window": 10.0}, 0.9),
        # Every 429 comes at a window's end with "Retry-After: 1": the next window is lost.
        ("fixed", {"window": 1.0}, 0.85),
        # The headers say what is left of each window: only the first window costs 429s.
        ("fixed", {"window": 10.0, "retry_after": "none", "headers": True}, 0.95),
        # Two answered at once in 100 ms: the window of requests in flight finds the 2.
        ("concurrency", {"cap": 2, "latency": (0.1, 0.1)}, 0.9),
    ],
)
def test_an_unknown_limit_is_found_without_many_429s(shape: str, kw: dict[str, Any], least: float) -> None:
    share, limited = crawl(shape, 75, **kw)
    assert share >= least
    assert limited < 0.01


def test_a_cap_on_requests_in_flight_lowers_the_window_not_the_rate() -> None:
    rate = AdaptiveRate(rate=30.0)
    t = 0.0
    for i in range(200):  # two in flight at most, as a server with a cap of 2 lets through
        t += 1 / 30
        rate.on_success(t, in_flight=1 + i % 2)
    before = rate.rate
    assert rate.on_rate_limited(t, sent_at=t - 0.01, in_flight=3) is None
    assert rate.window == 2 and rate.rate == before
    for _ in range(40):  # full and clean, but 3 was refused: not tried again soon
        t += 1 / 30
        rate.on_success(t, in_flight=2)
    assert rate.window == 2
    t += rate.window_wait
    rate.on_success(t, in_flight=2)
    assert rate.window == 3
    # A 429 at a number the successes reach as often is the pace's: the rate drops.
    assert rate.on_rate_limited(t + 1, sent_at=t + 0.9, in_flight=2) is not None


def test_a_rate_limits_429_at_a_rare_number_in_flight_is_not_a_cap() -> None:
    rate = AdaptiveRate(rate=18.0)
    t = 0.0
    for i in range(400):  # mostly one at a time; now and then two
        t += 1 / 18
        rate.on_success(t, in_flight=2 if i % 40 == 0 else 1)
    rate.on_rate_limited(t, sent_at=t - 0.01, in_flight=2)  # a late arrival, two out by chance
    assert rate.on_rate_limited(t + 2, sent_at=t + 1.9, in_flight=1) is not None  # the usual
    rate.on_rate_limited(t + 4, sent_at=t + 3.9, in_flight=2)
    assert rate.window is None


def _said(quota: Quota, shape: str, **kw: float) -> list[str | None]:
    """The kinds the quota takes from the headers of ``shape`` at a steady 19 a second, a
    pause of 3 s in the middle."""
    limiter = make_limiter(shape, LIMIT, **kw)  # type: ignore[arg-type]
    times = [i / 19 for i in range(400)] + [24 + i / 19 for i in range(400)]
    kinds = []
    for t in times:
        quota.on_send(t)
        quota.observe(rate_limit_headers(limiter.admit(t)), t + 0.01, 0.0, 0)
        kinds.append(quota.kind)
    return kinds


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ("fixed", {"window": 10.0}),
        ("bucket", {"burst": 20}),
        ("bucket", {"burst": 1}),  # always 0 left, its reset a second away
        ("sliding", {"window": 10.0}),  # refills as its oldest requests leave
    ],
)
def test_only_a_fixed_windows_headers_are_obeyed(shape: str, kw: dict[str, float]) -> None:
    quota = Quota()
    kinds = _said(quota, shape, **kw)
    if shape == "fixed":
        assert kinds[-1] == "window" and quota.windowed
    else:
        assert "window" not in kinds and not quota.windowed and quota.wait(0.0) == 0.0


def test_a_window_spent_waits_for_its_reset_and_a_reset_as_a_unix_time() -> None:
    quota = Quota()
    quota.observe({"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "2"}, 0.0, 0.0, 0)
    quota.observe({"X-RateLimit-Remaining": "100", "X-RateLimit-Reset": "10"}, 2.0, 0.0, 0)
    assert quota.windowed  # more left, and the reset moved later: a new window
    unix = {"X-RateLimit-Remaining": "50", "X-RateLimit-Reset": "1700000005"}
    pace = quota.observe(unix, 7.0, 1_700_000_000.0, 1)
    assert pace == pytest.approx(49 / 5)  # what is left (one more is out) over the time to the reset
    for _ in range(49):
        quota.on_send(7.5)
    assert quota.wait(7.5) == pytest.approx(4.5)  # spent: not one more before the reset
    quota.on_send(12.0)
    assert quota.wait(12.0) == 0.0
    assert quota.observe({"X-RateLimit-Remaining": "x", "X-RateLimit-Reset": "1"}, 12.0, 0.0, 0) is None


def test_429s_of_requests_sent_before_a_decrease_are_one_event() -> None:
    rate = AdaptiveRate(rate=40.0)
    rate.on_success(0.0)
    first = rate.on_rate_limited(5.0, sent_at=4.9)
    assert first is not None and first < 40.0
    assert rate.on_rate_limited(5.01, sent_at=4.95) is None  # sent before the decrease
    assert rate.on_rate_limited(6.5, sent_at=6.0) is not None


def _succeed_at_pace(rate: AdaptiveRate, start: float, end: float) -> None:
    """Every request answered, sent at the controller's own pace from ``start`` to ``end``."""
    t = start
    while t < end:
        t += 1 / rate.rate
        rate.on_success(t)


def test_a_rate_told_is_kept_until_a_429_and_never_exceeded_after() -> None:
    rate = AdaptiveRate(rate=20.0, cap=20.0)
    for i in range(1, 600):
        assert rate.on_success(i / 20) is None  # no slow start, no probing past the cap
    assert rate.rate == 20.0
    lower = rate.on_rate_limited(30.0, sent_at=29.9)
    assert lower is not None and lower < 20.0
    _succeed_at_pace(rate, 30.0, 400.0)
    # Climbed back, and no further than a hair below the rate told: a 429 at it says the
    # server counts a little more strictly than the client paces.
    assert rate.rate == rate.cap == pytest.approx(20.0 * 0.99)


@pytest.mark.anyio
async def test_the_sender_keeps_no_more_in_flight_than_the_window() -> None:
    server = FakeGlifServer(FakeData.generate(seed=7, users=4, glifs=30, runs=0, spheres=0))
    server.faults = Faults(limiter="concurrency", rate_limit=2, latency=0.01)
    ids = [glif["id"] for glif in server.data.public_glifs]
    async with make_client(server, wire=MemoryWire(server), rate=1000.0, max_in_flight=8) as client:
        adaptive = client._sender.adaptive
        assert adaptive is not None
        now = anyio.current_time()
        for i in range(40):  # as a 429 at three in flight, after successes at one and two, leaves it
            adaptive.on_success(now, in_flight=1 + i % 2)
        for _ in range(2):
            adaptive.on_rate_limited(now, now, in_flight=3)
        assert adaptive.window == 2
        async with anyio.create_task_group() as tg:
            for glif in ids * 2:
                tg.start_soon(client.get_glif, glif)
        assert client.stats.rate_limited == 0
    assert server.peak_in_flight == 2


def test_a_429_soon_after_a_pause_drops_to_the_longer_pace_not_to_what_the_pause_left() -> None:
    # A sliding window, its limit 20 a second, pushed from above: after a pause it lets
    # through only what left it, so the seconds since the last 429 (most of them paused) say
    # far less than the twenty before them.
    rate = AdaptiveRate(rate=35.0)
    for i in range(400):
        rate.on_success(i / 20)
    assert rate.on_rate_limited(20.0, sent_at=19.99) is not None  # the first: a plain step
    rate.on_pause(20.0, 3.0)
    for i in range(12):
        rate.on_success(23.0 + i / 25)
    lower = rate.on_rate_limited(23.6, sent_at=23.55)
    assert lower is not None
    # What got through over the last 20 s, paused or not (17.5 a second), not the 3.3 of the
    # last 3.6 s nor the quarter of the rate that used to bound the drop.
    assert 16.0 < lower < 20.0


def test_a_429_after_a_pause_that_left_no_time_sending_still_measures() -> None:
    # Slow start far past a sliding window's limit (its quota lasts seven seconds), the first
    # 429, a pause of three seconds, and another 429 at once: a plain step would leave the
    # rate at three times the limit, and the window's echo would meet it again and again.
    rate = AdaptiveRate(rate=10.0)
    for second, count in enumerate((8, 13, 17, 21, 28, 36, 46)):
        for i in range(count):
            rate.on_success(second + i / count)
    for i in range(29):
        rate.on_success(7.0 + i / 75)
    assert rate.rate > 60.0
    assert rate.on_rate_limited(7.4, sent_at=7.39) is not None  # the first: a plain step
    rate.on_pause(7.4, 3.1)
    for i in range(7):
        rate.on_success(10.5 + i / 140)
    lower = rate.on_rate_limited(10.56, sent_at=10.55)
    # Not a plain step: what got through over the last ten seconds, pauses included.
    assert lower is not None and 15.0 < lower < 20.0


def test_a_window_spent_at_once_then_waited_for_is_not_a_pace_to_climb_back_to() -> None:
    # Fixed windows of 10 s, far above their quota: each window's quota goes in under four
    # seconds, then the client waits (probes refused) until the next one.
    rate = AdaptiveRate(rate=56.0)
    for i in range(168):
        rate.on_success(i / 56)
    assert rate.on_rate_limited(3.0, sent_at=2.99) is not None
    rate.on_pause(3.0, 3.5)
    for i in range(203):
        rate.on_success(6.5 + i / 55)
    lower = rate.on_rate_limited(10.2, sent_at=10.19)
    assert lower is not None and lower < 30.0
    _succeed_at_pace(rate, 10.2, 16.0)
    # Paused for almost half the time: the 55 a second while sending were a quota spent at
    # once. The quick climb back stops a little above the drop (then only the slow probe),
    # not close to that pace again.
    assert rate.estimate == pytest.approx(lower * rate.reach)
    assert rate.rate < lower * rate.reach * 1.1
