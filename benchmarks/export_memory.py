"""Peak memory of the Parquet export against table size: ``python -m benchmarks.export_memory``.

Each size runs in a process of its own: a crawl database with N synthetic runs is written, then
exported; the peak RSS growth of the export alone is reported. Flat in N is the claim. *scoped*:
half the runs belong to a crawl scope and only that scope is exported (``export(scope=...)``).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (20_000, 200_000)


SCOPE_USERS = ("someone",)


def _fill(path: Path, n: int) -> None:
    from aioglif.crawl import Scope, Store

    store = Store(path)
    record = json.dumps({"id": "x", "spellId": "g", "price": "0.6827", "output": "o" * 200})
    rows = (
        (
            f"run{i:09d}",
            f"glif{i % 500}",
            f"user{i % 97}",
            "2024-10-27T03:41:03+00:00",
            "2024-10-27T03:41:48.565000+00:00" if i % 2 else "2024-10-27T03:41:49+00:00",
            "IMAGE",
            "0.6827",
            "PUBLIC",
            record,
            time.time(),
            0,
        )
        for i in range(n)
    )
    with store.transaction() as db:
        db.executemany(
            "INSERT INTO runs (id, glif_id, user_id, created_at, completed_at, output_type, price,"
            " visibility, json, harvested_at, nsfw_filtered) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        db.execute("INSERT INTO scopes (id, key) VALUES (1, ?)", (Scope(users=SCOPE_USERS).key(),))
        db.execute("INSERT INTO members SELECT 1, 'runs', id, harvested_at FROM runs WHERE rowid % 2 = 0")
    store.close()


def _child(n: int, scoped: bool) -> None:
    import pyarrow.parquet  # noqa: F401  (its import is not the export's memory)

    from aioglif.crawl import Scope, export

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "glif.sqlite"
        _fill(db, n)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        counts = export(db, Path(tmp) / "pq", scope=Scope(users=SCOPE_USERS) if scoped else None)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        size = (Path(tmp) / "pq" / "runs.parquet").stat().st_size
    print(
        json.dumps(
            {
                "runs": counts["runs"],
                "peak_growth_mb": (after - before) / 1024,
                "seconds": seconds,
                "parquet_mb": size / 1e6,
            }
        )
    )


def main() -> None:
    print(
        "| runs in file | exported | export s | runs.parquet MB"
        " | peak RSS growth during export MB (pyarrow imported before) |"
    )
    print("|---|---|---|---|---|")
    for n, scoped in [(n, scoped) for scoped in (False, True) for n in SIZES]:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.export_memory", "--child", str(n), *(["--scoped"] * scoped)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out)
        what = f"{r['runs']:,} (one scope)" if scoped else f"{r['runs']:,} (all)"
        print(f"| {n:,} | {what} | {r['seconds']:.1f} | {r['parquet_mb']:.1f} | {r['peak_growth_mb']:.0f} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(int(sys.argv[2]), scoped="--scoped" in sys.argv[3:])
    else:
        main()
