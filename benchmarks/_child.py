"""One contender on one job, in a process of its own, so CPU time and peak memory are its own.

Usage: ``python -m benchmarks._child CONTENDER KIND JOB_JSON`` (``-``: the JSON on stdin);
prints one JSON line.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time

from .contenders import CONTENDERS, PRELOAD, REFERENCES


def main() -> None:
    contender, kind, raw = sys.argv[1], sys.argv[2], sys.argv[3]
    job = json.loads(sys.stdin.read() if raw == "-" else raw)
    if kind == "crawl":
        crawl(job)
        return
    run = (CONTENDERS.get(contender) or REFERENCES[contender])[kind]
    for module in PRELOAD[contender]:
        importlib.import_module(module)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    items = run(job)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "items": items,
        "seconds": wall,
        "cpu": cpu,
        "peak_mb": usage.ru_maxrss / 1024,  # Linux reports kilobytes
        "client_stats": job.get("client_stats"),
        "listing_stats": job.get("listing_stats"),
    }
    print(json.dumps(result))


def crawl(job: dict[str, object]) -> None:
    """``aioglif crawl`` in this process; reports its exit status, time, memory and summary."""
    import sqlite3
    from contextlib import closing

    from aioglif.cli import main as cli

    wall0 = time.perf_counter()
    code = cli([str(a) for a in job["argv"]])  # type: ignore[union-attr]
    seconds = time.perf_counter() - wall0
    with closing(sqlite3.connect(str(job["out"]))) as db:
        (stats,) = db.execute("SELECT stats FROM crawls ORDER BY id DESC LIMIT 1").fetchone()
        counts = {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("glifs", "runs", "users")
        }
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "exit": code,
                "seconds": seconds,
                "peak_mb": usage.ru_maxrss / 1024,
                "summary": json.loads(stats),
                "counts": counts,
            }
        )
    )


if __name__ == "__main__":
    main()
