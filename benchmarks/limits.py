"""The crawler against every limiter shape, the limit told (``--rate``) and not told.

Each case is a crawl of its own fake server (a process of its own), sized so that a client at
exactly the limit needs ``seconds`` seconds. A few cases run side by side (each takes a sliver
of CPU at 20 requests a second; one after another they would take half an hour at full
length). The server counts the 429s; *of limit* is the crawl's successful
requests per second over the limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

LIMIT = 20.0
LATENCY = {"latency": 0.01, "latency_jitter": 0.01}


def _cases() -> list[tuple[str, str, dict[str, Any], bool]]:
    """(key, name, faults, whether to run it told the limit too) for each shape."""
    bucket = {"limiter": "bucket", "rate_limit": LIMIT, **LATENCY}
    fixed = {"limiter": "fixed", "rate_limit": LIMIT, **LATENCY}
    sliding = {"limiter": "sliding", "rate_limit": LIMIT, **LATENCY}
    return [
        ("bucket", "token bucket, burst = limit, Retry-After seconds", {**bucket, "burst": 20}, True),
        (
            "bucket-date",
            "token bucket, burst = limit, Retry-After date",
            {**bucket, "burst": 20, "retry_after": "date"},
            False,
        ),
        (
            "bucket-none",
            "token bucket, burst = limit, no Retry-After",
            {**bucket, "burst": 20, "retry_after": "none"},
            False,
        ),
        (
            "bucket-headers",
            "token bucket, burst = limit, X-RateLimit-* headers",
            {**bucket, "burst": 20, "rate_limit_headers": True},
            False,
        ),
        ("bucket-1", "token bucket, burst 1, Retry-After seconds", {**bucket, "burst": 1}, True),
        ("fixed-1", "fixed windows of 1 s, Retry-After seconds", {**fixed, "window": 1.0}, True),
        (
            "fixed-10",
            "fixed windows of 10 s, no Retry-After",
            {**fixed, "window": 10.0, "retry_after": "none"},
            False,
        ),
        (
            "fixed-10-headers",
            "fixed windows of 10 s, no Retry-After, X-RateLimit-* headers",
            {**fixed, "window": 10.0, "retry_after": "none", "rate_limit_headers": True},
            False,
        ),
        ("sliding-10", "sliding window of 10 s, Retry-After seconds", {**sliding, "window": 10.0}, True),
        (
            "sliding-60",
            "sliding window of 60 s, Retry-After date",
            {**sliding, "window": 60.0, "retry_after": "date"},
            True,
        ),
        # Two answered at once, each 100 ms: 20 a second at most. A rate told cannot express a cap.
        (
            "concurrency",
            "concurrency cap of 2 (answers take 100 ms)",
            {"limiter": "concurrency", "rate_limit": 2, "latency": 0.1},
            False,
        ),
    ]


def keys() -> list[str]:
    return [c[0] for c in _cases()]


def report(
    seconds: float,
    tmp: Path,
    fake_server: Callable[..., Any],
    control: Callable[..., Any],
    in_child: Callable[[str, str, str, dict[str, Any]], dict[str, Any]],
    parallel: int = 3,
    only: tuple[str, ...] = (),
    told: str = "both",
) -> str:
    """The table; ``only`` picks cases by key (all if empty), ``told`` is "yes", "no" or "both"."""
    # About one run listing (one request) a glif with runs: seconds × limit requests in all.
    glifs = max(40, round(seconds * LIMIT * 1.05))
    jobs: list[tuple[str, dict[str, Any], tuple[str, ...]]] = []
    for key, name, faults, tellable in _cases():
        if only and key not in only:
            continue
        if told != "yes":
            jobs.append((name, faults, ()))
        if tellable and told != "no":
            jobs.append((name, faults, ("--rate", f"{LIMIT:g}")))

    def one(i: int) -> dict[str, Any]:
        name, faults, flags = jobs[i]
        out = tmp / f"limits-{i}.sqlite"
        with fake_server(
            "--glifs", str(glifs), "--runs-per-glif", "5-60", "--users", "50", "--spheres", "0", "--seed", "3"
        ) as base:
            control(base, "/_fake/faults", faults)
            control(base, "/_fake/reset", {})
            argv = ["--api-url", base + "/api", "--token", "fake-token", *flags]
            argv += ["crawl", "--out", str(out), "--runs", "--progress", "none"]
            r = in_child(base, "aioglif", "crawl", {"argv": argv, "out": str(out)})
            return {"name": name, "told": bool(flags), **r}

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        rows = list(pool.map(one, range(len(jobs))))
    lines = [
        f"### Limiter shapes: a crawl of {seconds:g} s at the limit ({LIMIT:g} req/s), told and not told",
        "",
        "| server limit | told | exit | seconds | span s | requests | of limit | 429s | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for r in rows:
        s = r["server"]
        ok = s["statuses"].get("200", 0)
        # Over the server's span from the first request to the last: the client process's
        # start-up is not the controller's doing.
        share = ok / s["span"] / LIMIT if s["span"] else 0.0
        limited = s["rate_limited"] / s["requests"] if s["requests"] else 0.0
        good = (share >= 0.97 and s["rate_limited"] == 0) if r["told"] else (share >= 0.90 and limited < 0.01)
        verdicts.append(good)
        lines.append(
            f"| {r['name']} | {'yes' if r['told'] else 'no'} | {r['exit']} | {r['seconds']:.1f} | "
            f"{s['span']:.1f} | "
            f"{s['requests']:,} | {share:.1%} | {s['rate_limited']} ({limited:.2%}) | "
            f"{'met' if good else 'NOT met'} |"
        )
    lines += [
        "",
        f"Targets (not told: ≥ 90% of the limit and < 1% 429s; told: ≥ 97% and no 429): "
        f"{sum(verdicts)} of {len(verdicts)} cases met.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - a debugging aid: python -m benchmarks.limits
    print(json.dumps({c[0]: c[1] for c in _cases()}, indent=1))
