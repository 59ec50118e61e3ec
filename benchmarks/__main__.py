"""Side-by-side benchmark of aioglif against the usual ways of listing the Glif API.

    python -m benchmarks            # everything, a few minutes
    python -m benchmarks --quick    # small data, seconds (a smoke run)
    python -m benchmarks --only latency ratelimit

The fake server runs in its own process (it shares no event loop with the client), and each
contender runs in a fresh process of its own, so that its CPU seconds and peak memory are its
own. The server counts what each contender cost it: requests, 429s, empty pages past the end,
and repeated reads. The table goes to stdout and to ``benchmarks/latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aioglif.testing import fake_server_process

from .contenders import CONTENDERS

HERE = Path(__file__).parent
ALL = (
    "nolatency",
    "latency",
    "ratelimit",
    "small",
    "smallpages",
    "memory",
    "crawl",
    "variance",
    "limits",
    "dispatch",
)


@dataclass(frozen=True)
class Sizes:
    glifs: int  # server A: glifs with graphs
    small_glifs: int  # server B: glifs with 0-300 runs each
    stream: tuple[int, int]  # runs streamed for the memory comparison
    page_glifs: int  # server C: glifs with graphs and about 10 runs each


FULL = Sizes(glifs=20_000, small_glifs=2_000, stream=(20_000, 200_000), page_glifs=5_000)
QUICK = Sizes(glifs=1_000, small_glifs=60, stream=(2_000, 8_000), page_glifs=300)
CPU_REPEATS = 3  # where CPU is the measure, each contender's is the median of this many runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def control(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, method="POST" if data is not None or path.endswith("reset") else "GET"
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def fake_server(*args: str) -> Any:
    return fake_server_process(*args, timeout=300)


def run(base: str, contender: str, kind: str, job: dict[str, Any], faults: dict[str, Any]) -> dict[str, Any]:
    control(base, "/_fake/faults", faults)
    control(base, "/_fake/reset", {})
    try:
        result = _in_child(base, contender, kind, {**job, "api_url": base + "/api"})
    except RuntimeError as exc:
        # A contender that gives up (httpx's pool timeout under a loaded machine) is a result
        # too: its row says so, and the others still run.
        last = str(exc).strip().splitlines()[-1]
        return {"contender": contender, "failed": last[:100], "cpu": float("inf")}
    result["contender"] = contender
    return result


def _in_child(base: str, contender: str, kind: str, job: dict[str, Any]) -> dict[str, Any]:
    """One job in a fresh process (``benchmarks._child``); its JSON line and the server's stats."""
    # The job goes in on stdin: thousands of glif ids are too long for a command line.
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._child", contender, kind, "-"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=HERE.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{contender} failed on {kind}:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["server"] = control(base, "/_fake/stats")
    return result


# --- scenarios ---------------------------------------------------------------------------------


def scenario_nolatency(base: str, sizes: Sizes) -> tuple[str, list[dict[str, Any]]]:
    job = {
        "url": base + "/api/glifs",
        "params": {"includes": "spells.data"},
        "page_size": 100,
        "concurrency": 8,
    }
    rows = [_median_cpu(partial(run, base, c, "list", job, {})) for c in CONTENDERS]
    return (
        f"No latency: {sizes.glifs:,} glifs with their graphs, pages of 100 (client cost);"
        f" median CPU of {CPU_REPEATS} runs",
        rows,
    )


def _median_cpu(measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The run of median CPU out of ``CPU_REPEATS``: one run's CPU swings with the machine.

    A contender's runs go back to back, which keeps its process warm-up out of the others' way;
    interleaved would be fairer to a machine whose load changes."""
    runs = sorted((measure() for _ in range(CPU_REPEATS)), key=lambda r: r["cpu"])
    return runs[len(runs) // 2]


LATENCY = (0.05, 0.05)  # 50 ms plus up to 50 ms: 50-100 ms a request
WINDOW = 16


def scenario_latency(base: str, sizes: Sizes) -> tuple[str, list[dict[str, Any]]]:
    job = {"url": base + "/api/glifs", "params": {}, "page_size": 40, "concurrency": WINDOW}
    faults = {"latency": LATENCY[0], "latency_jitter": LATENCY[1], "seed": 1}
    rows = [run(base, c, "list", job, faults) for c in CONTENDERS]
    mean = LATENCY[0] + LATENCY[1] / 2
    return (
        f"Latency 50-100 ms: {sizes.glifs:,} glifs, pages of 40, window {WINDOW}"
        f" (ideal window/latency = {WINDOW / mean:.0f} pages/s)",
        rows,
    )


RATE = 20.0


def scenario_ratelimit(base: str, sizes: Sizes) -> tuple[str, list[dict[str, Any]]]:
    # The featured glifs (a tenth) in pages of 20: enough requests to see the rate hold, few
    # enough that the contenders, who sleep through Retry-After, finish in a minute.
    job = {
        "url": base + "/api/glifs",
        "params": {"featured": "1"},
        "page_size": 20,
        "concurrency": 8,
        "rate": RATE,
    }
    faults = {"rate_limit": RATE, "burst": 2}
    rows = [run(base, c, "list", job, faults) for c in CONTENDERS]
    return (
        f"Server rate limit {RATE:g} req/s (burst 2): featured glifs, pages of 20; aioglif told the limit",
        rows,
    )


def scenario_small(base: str, sizes: Sizes) -> tuple[str, list[dict[str, Any]]]:
    glifs = _glif_counts(base)
    job = {"url": base + "/api/runs", "params": {}, "page_size": 100, "concurrency": 8, "glifs": glifs}
    rows = [run(base, c, "small", job, {}) for c in CONTENDERS]
    runs = sum(g["count"] for g in glifs)
    return f"Many small listings: runs of {len(glifs):,} glifs with 0-300 runs each ({runs:,} runs)", rows


def scenario_smallpages(base: str, sizes: Sizes) -> tuple[str, list[dict[str, Any]]]:
    glifs = _glif_counts(base)
    job = {
        "url": base + "/api/runs",
        "glifs_url": base + "/api/glifs",
        "params": {},
        "page_size": 100,
        "concurrency": 8,
        "glifs": glifs,
    }
    rows = [_median_cpu(partial(run, base, c, "graphs+runs", job, {})) for c in CONTENDERS]
    # The floor under every contender built on aiohttp: the bound the CPU targets live within.
    rows.append(_median_cpu(partial(run, base, "session floor", "graphs+runs", job, {})))
    runs_total = sum(g["count"] for g in glifs)
    return (
        f"Small pages: {len(glifs):,} glifs with graphs (pages of 100), then each glif's runs"
        f" ({runs_total:,}, about 10 a page); median CPU of {CPU_REPEATS} runs, no latency",
        rows,
    )


def scenario_memory(base: str, sizes: Sizes) -> tuple[str, list[dict[str, Any]]]:
    rows = []
    for n in sizes.stream:
        job = {"url": base + "/api/runs", "params": {}, "page_size": 100, "concurrency": 8, "max_items": n}
        row = run(base, "aioglif", "list", job, {})
        row["contender"] = f"aioglif, {n:,} runs"
        rows.append(row)
    return "Memory: aioglif streaming all runs", rows


def run_crawl(base: str, out: Path, faults: dict[str, Any], *flags: str) -> dict[str, Any]:
    control(base, "/_fake/faults", faults)
    control(base, "/_fake/reset", {})
    out.unlink(missing_ok=True)
    argv = [
        "--api-url",
        base + "/api",
        "--token",
        "fake-token",
        "crawl",
        "--out",
        str(out),
        "--runs",
        "--progress",
        "none",
        *flags,
    ]
    return _in_child(base, "aioglif", "crawl", {"argv": argv, "out": str(out)})


CRAWL_RATE = 20.0


def crawl_report(sizes: Sizes, tmp: Path) -> str:
    """The crawler's targets: the rate held (told and not told), useful requests, faults, memory."""
    lines = [
        "### The crawler (`aioglif crawl --runs`)",
        "",
        "| case | exit | seconds | requests | req/s | of limit | 429s | useful requests | glifs | runs |"
        " peak MB |",
        "|" + "---|" * 11,
    ]
    glifs, runs = (400, 12_000) if sizes is not QUICK else (60, 1_500)
    with fake_server(
        "--glifs", str(glifs), "--runs", str(runs), "--users", "50", "--spheres", "0", "--seed", "3"
    ) as base:
        want = (len(_glif_counts(base)), runs)
        limit = {"rate_limit": CRAWL_RATE, "burst": 2, "latency": 0.01, "latency_jitter": 0.01}
        cases = [
            (f"limit {CRAWL_RATE:g}/s, told (--rate)", limit, ("--rate", str(CRAWL_RATE))),
            (f"limit {CRAWL_RATE:g}/s, not told", limit, ()),
            (
                "5% faulty answers (5xx, drops, truncation)",
                {"error_rate": 0.02, "drop_rate": 0.015, "truncate_rate": 0.015, "seed": 7},
                (),
            ),
        ]
        for name, faults, flags in cases:
            r = run_crawl(base, tmp / "crawl.sqlite", faults, *flags)
            lines.append(_crawl_row(name, r, faults.get("rate_limit"), want))
    peaks: list[float] = []
    for n in sizes.stream:
        with fake_server("--glifs", "200", "--runs", str(n), "--users", "50", "--spheres", "0") as base:
            # The same stated rate for both sizes: the same pages in flight, so only size differs.
            r = run_crawl(base, tmp / "crawl.sqlite", {}, "--rate", "100")
            lines.append(
                _crawl_row(f"memory: {n:,} runs (--rate 100)", r, None, (len(_glif_counts(base)), n))
            )
            peaks.append(r["peak_mb"])
    lines += [
        "",
        f"Peak RSS ratio, {sizes.stream[1]:,} over {sizes.stream[0]:,} runs: {peaks[1] / peaks[0]:.3f}",
    ]
    return "\n".join(lines) + "\n"


def _crawl_row(name: str, r: dict[str, Any], limit: float | None, want: tuple[int, int]) -> str:
    s, summ = r["server"], r["summary"]
    ok = s["statuses"].get("200", 0)
    rate = ok / r["seconds"]
    useful = summ["useful_pages"] / summ["requests"] if summ["requests"] else 0.0
    complete = (r["counts"]["glifs"], r["counts"]["runs"]) == want
    return (
        f"| {name} | {r['exit']} | {r['seconds']:.1f} | {s['requests']:,} | {rate:.2f} | "
        f"{f'{rate / limit:.1%}' if limit else '-'} | "
        f"{s['rate_limited']} ({s['rate_limited'] / s['requests']:.2%})"
        f" | {useful:.1%} | {r['counts']['glifs']:,} | {r['counts']['runs']:,}"
        f"{'' if complete else ' (INCOMPLETE)'} | {r['peak_mb']:.0f} |"
    )


def _glif_counts(base: str) -> list[dict[str, Any]]:
    out, page = [], 1
    while True:
        with urllib.request.urlopen(f"{base}/api/glifs?page={page}&limit=100", timeout=30) as r:
            items = json.loads(r.read())
        out += [{"id": g["id"], "count": g["completedSpellRunCount"]} for g in items]
        if len(items) < 100:
            return out
        page += 1


# --- reporting ---------------------------------------------------------------------------------


def _table(title: str, rows: list[dict[str, Any]], kind: str) -> str:
    ours = next((r for r in rows if r["contender"] == "aioglif"), rows[0])
    lines = [f"### {title}", ""]
    head = [
        "contender",
        "items",
        "seconds",
        "items/s",
        "aioglif ×",
        "requests",
        "past end",
        "repeats",
        "429s",
        "CPU s",
        "CPU s/10k",
        "CPU ×",
        "peak MB",
    ]
    if kind == "latency":
        head[4:4] = ["pages/s", "steady req/s"]
    if kind == "ratelimit":
        head.insert(4, "req/s")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['contender']} | failed: {r['failed']} |" + " - |" * (len(head) - 2))
            continue
        s = r["server"]
        ips = r["items"] / r["seconds"] if r["seconds"] else 0.0
        our_ips = ours["items"] / ours["seconds"] if ours["seconds"] else 0.0
        cpu10k = r["cpu"] / r["items"] * 10_000 if r["items"] else 0.0
        our_cpu10k = ours["cpu"] / ours["items"] * 10_000 if ours["items"] else 0.0
        cells = [
            r["contender"],
            f"{r['items']:,}",
            f"{r['seconds']:.2f}",
            f"{ips:,.0f}",
            f"{our_ips / ips:.2f}" if ips else "-",
            f"{s['requests']:,}",
            str(s["empty_pages"]),
            str(s["repeats"]),
            str(s["rate_limited"]),
            f"{r['cpu']:.2f}",
            f"{cpu10k:.2f}",
            f"{cpu10k / our_cpu10k:.2f}" if our_cpu10k else "-",
            f"{r['peak_mb']:.0f}",
        ]
        ok_pages = s["statuses"].get("200", 0)
        if kind == "latency":
            cells[4:4] = [f"{ok_pages / r['seconds']:.0f}", f"{s['steady_rate']:.0f}"]
        if kind == "ratelimit":
            cells.insert(4, f"{ok_pages / r['seconds']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    floor = next((r for r in rows if r["contender"] == "session floor"), None)
    loop = next((r for r in rows if r["contender"] == "aiohttp+sem"), None)
    if floor is not None and "failed" not in floor:
        lines += [
            "",
            "*session floor* is no contender: the same requests on one bare `aiohttp.ClientSession`"
            " with every URL built in advance, msgspec decoding into aioglif's models and no client"
            " logic at all (no retry, timer, check, order or stream), the lower bound of any client on"
            " aiohttp."
            + (
                f" Its CPU is {floor['cpu'] / loop['cpu']:.0%} of the aiohttp loop's and"
                f" {floor['cpu'] / ours['cpu']:.0%} of aioglif's."
                if loop is not None and "failed" not in loop and loop["cpu"] and ours["cpu"]
                else ""
            ),
        ]
    if kind == "memory" and len(rows) == 2:
        lines += [
            "",
            f"Peak RSS ratio, {rows[1]['items']:,} over {rows[0]['items']:,} runs: "
            f"{rows[1]['peak_mb'] / rows[0]['peak_mb']:.3f}",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small data: a smoke run in seconds")
    parser.add_argument("--only", nargs="+", choices=ALL, default=list(ALL))
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), default=list(CONTENDERS))
    parser.add_argument(
        "--limit-seconds",
        type=float,
        help="length of each limiter-shape crawl at the limit (default 75; 15 with --quick)",
    )
    parser.add_argument("--limit-parallel", type=int, default=3, help="limiter-shape crawls at once")
    parser.add_argument(
        "--limit-case",
        nargs="+",
        default=[],
        metavar="KEY",
        help="limiter-shape cases to run (default all; keys: python -m benchmarks.limits)",
    )
    parser.add_argument(
        "--limit-told",
        choices=("yes", "no", "both"),
        default="both",
        help="limiter-shape crawls told the limit, not told, or both (default)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "latest.md", help="where to write the tables")
    args = parser.parse_args()
    if args.limit_case:
        from . import limits

        unknown = sorted(set(args.limit_case) - set(limits.keys()))
        if unknown:
            parser.error(f"unknown --limit-case {', '.join(unknown)}; choose from {', '.join(limits.keys())}")
    sizes = QUICK if args.quick else FULL
    for name in list(CONTENDERS):
        if name not in args.contenders:
            del CONTENDERS[name]
    started = time.perf_counter()
    sections = []
    wanted = [s for s in ALL if s in args.only]
    if any(s in wanted for s in ("nolatency", "latency", "ratelimit")):
        with fake_server(
            "--glifs", str(sizes.glifs), "--runs", "0", "--users", "500", "--spheres", "0"
        ) as base:
            for name in ("nolatency", "latency", "ratelimit"):
                if name in wanted:
                    title, rows = globals()[f"scenario_{name}"](base, sizes)
                    sections.append(_table(title, rows, name))
                    print(sections[-1], flush=True)
    if any(s in wanted for s in ("small", "memory")):
        with fake_server(
            "--glifs", str(sizes.small_glifs), "--runs-per-glif", "0-300", "--users", "200", "--spheres", "0"
        ) as base:
            for name in ("small", "memory"):
                if name in wanted:
                    title, rows = globals()[f"scenario_{name}"](base, sizes)
                    sections.append(_table(title, rows, name))
                    print(sections[-1], flush=True)
    if "smallpages" in wanted:
        with fake_server(
            "--glifs", str(sizes.page_glifs), "--runs-per-glif", "5-15", "--users", "200", "--spheres", "0"
        ) as base:
            title, rows = scenario_smallpages(base, sizes)
            sections.append(_table(title, rows, "smallpages"))
            print(sections[-1], flush=True)
    if "crawl" in wanted:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            sections.append(crawl_report(sizes, Path(tmp)))
        print(sections[-1], flush=True)
    if "variance" in wanted:
        from . import variance

        sections.append(variance.report(args.quick))
        print(sections[-1], flush=True)
    if "limits" in wanted:
        import tempfile

        from . import limits

        with tempfile.TemporaryDirectory() as tmp:
            seconds = args.limit_seconds or (15.0 if args.quick else 75.0)
            sections.append(
                limits.report(
                    seconds,
                    Path(tmp),
                    fake_server,
                    control,
                    _in_child,
                    args.limit_parallel,
                    tuple(args.limit_case),
                    args.limit_told,
                )
            )
        print(sections[-1], flush=True)
    if "dispatch" in wanted:
        import tempfile

        from . import dispatch

        with (
            fake_server(
                "--glifs",
                "20",
                "--runs",
                "0",
                "--run-latency",
                str(dispatch.RUN_SECONDS),
                "--max-concurrent-runs",
                str(dispatch.IN_FLIGHT),
                # The contenders retry a 429; a 200 + error would be a result to them.
                "--simple-errors",
                "status",
                "--credits",
                "100000000",
            ) as base,
            tempfile.TemporaryDirectory() as tmp,
        ):
            glifs = json.loads(
                urllib.request.urlopen(f"{base}/api/glifs?limit=100&includes=spells.data").read()
            )
            glif = next(x for x in glifs if any(n["type"] == "TextInputBlock" for n in x["data"]["nodes"]))
            name = next(n["name"] for n in glif["data"]["nodes"] if n["type"] == "TextInputBlock")
            sections.append(
                dispatch.report(base, lambda p, b=None: control(base, p, b), glif["id"], name, Path(tmp))
            )
        print(sections[-1], flush=True)
    env = (
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{'quick' if args.quick else 'full'} run of {', '.join(wanted)} "
        f"in {time.perf_counter() - started:.0f} s, "
        f"{time.strftime('%Y-%m-%d')}. Columns: *past end* = empty pages answered past the end of a list; "
        "*repeats* = the same page read again (aioglif's head read after overlapping pages); "
        "*steady req/s* = the server's count of requests a second over the middle 80% of them; "
        "*aioglif ×* = aioglif's items/s over the contender's; *CPU ×* = the contender's CPU per item "
        "over aioglif's."
    )
    args.out.write_text("## Benchmark results\n\n" + env + "\n\n" + "\n".join(sections))
    print(env)


if __name__ == "__main__":
    main()
