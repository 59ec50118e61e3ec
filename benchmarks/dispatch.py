"""Run dispatching side by side: ``python -m benchmarks --only dispatch``.

1,000 runs of a glif whose runs take 0.2 s (the issue's 2 s, scaled down tenfold), at most 20
in flight per token on the server (429 beyond). Ideal: 1000 x 0.2 / 20 = 10 s. Contenders:
a ``gather`` of all runs, and a semaphore loop of 20, both with aiohttp, writing each result to
a JSONL file as it arrives and retrying a 429 after its Retry-After; and ``aioglif run --batch``.
Then each is killed (SIGKILL) after 4 s and run again with the same output, the way its users
would (the contenders start over; aioglif resumes from its ledger), and the server counts runs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUNS, IN_FLIGHT, RUN_SECONDS = 1000, 20, 0.2

CONTENDER = r"""
import asyncio, json, sys, aiohttp
simple, glif_id, name, out, mode = sys.argv[1:6]
async def main():
    sem = asyncio.Semaphore(20 if mode == "semaphore" else 10**6)
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer fake-token"},
                                     connector=aiohttp.TCPConnector(limit=0)) as s:
        f = open(out, "a")
        async def one(i):
            async with sem:
                while True:
                    async with s.post(simple, json={"id": glif_id, "inputs": {name: f"value {i}"}}) as r:
                        if r.status == 429:
                            wait = float(r.headers.get("Retry-After", 1))
                        else:
                            body = await r.json()
                            f.write(json.dumps({"key": i, **body}) + "\n"); f.flush()
                            return
                    await asyncio.sleep(wait)
        await asyncio.gather(*(one(i) for i in range(1, RUNS + 1)))
asyncio.run(main())
""".replace("RUNS", str(RUNS))


LIBRARY = r"""
import sys, time, anyio
from aioglif import GlifClient
from aioglif.dispatch import Job, dispatch
simple, api, glif_id, name, budget = sys.argv[1:6]
async def main():
    jobs = [Job(glif_id, {name: f"value {i}"}, key=i) for i in range(1, RUNS + 1)]
    async with GlifClient("fake-token", api_url=api, simple_api_url=simple, rate=None, max_in_flight=20) as c:
        start = time.perf_counter()
        credits = None if budget == "-" else budget
        async with dispatch(c, jobs, concurrency=20, max_credits=credits) as results:
            async for _ in results:
                pass
        print(time.perf_counter() - start)
anyio.run(main)
""".replace("RUNS", str(RUNS))

# ``aioglif run --batch`` timed inside its process: reading the input, the job store (a commit
# before and after every run), the export; no interpreter start-up.
BATCH = r"""
import sys, time
from aioglif.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
print(time.perf_counter() - start, code)
"""


def report(base: str, control: Any, glif_id: str, name: str, tmp: Path) -> str:
    simple = base + "/simple"
    inputs = tmp / "inputs.csv"
    inputs.write_text(name + "\n" + "".join(f"value {i}\n" for i in range(1, RUNS + 1)))
    script = tmp / "contender.py"
    script.write_text(CONTENDER)

    def command(who: str, out: Path) -> list[str]:
        if who == "aioglif":
            return [
                sys.executable,
                "-m",
                "aioglif",
                "--api-url",
                base + "/api",
                "--simple-api-url",
                simple,
                "--token",
                "fake-token",
                "run",
                glif_id,
                "--batch",
                str(inputs),
                "--out",
                str(out),
                "--concurrency",
                str(IN_FLIGHT),
            ]
        return [sys.executable, str(script), simple, glif_id, name, str(out), who]

    lines = [
        f"### Run dispatching: {RUNS:,} runs of {RUN_SECONDS} s, {IN_FLIGHT} in flight allowed"
        f" (ideal {RUNS * RUN_SECONDS / IN_FLIGHT:.0f} s)",
        "",
        "| contender | seconds | of ideal | 429s | killed after 4 s and run again: runs made | paid twice |"
        " results kept | unknown (reported) |",
        "|" + "---|" * 8,
    ]
    for who in ("gather", "semaphore", "aioglif"):
        out = tmp / f"{who}.jsonl"
        control("/_fake/reset", {})
        start = time.perf_counter()
        subprocess.run(command(who, out), capture_output=True, timeout=900, check=False)
        seconds = time.perf_counter() - start
        stats = control("/_fake/stats")
        # Interrupted: killed mid-batch, then run again with the same output file.
        out2 = tmp / f"{who}-killed.jsonl"
        control("/_fake/reset", {})
        proc = subprocess.Popen(command(who, out2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = subprocess.run(command(who, out2), capture_output=True, text=True, timeout=900, check=False)
        made = control("/_fake/stats")["runs_started"]
        keys = [json.loads(x)["key"] for x in out2.read_text().splitlines() if x.strip()]
        unknown = 0
        for line in done.stderr.splitlines():
            if "were sent by a run that ended before their answer came" in line:
                unknown = int(line.split()[0])
        unique = len(set(map(str, keys)))
        repeated = f" ({len(keys) - unique} lines repeated)" if len(keys) != unique else ""
        ideal = RUNS * RUN_SECONDS / IN_FLIGHT
        lines.append(
            f"| {who} | {seconds:.1f} | {ideal / seconds:.0%} | {stats['rate_limited']:,} | {made:,}"
            f" | {max(0, made - RUNS):,} | {unique:,} of {RUNS:,}{repeated} | {unknown} |"
        )
    ideal = RUNS * RUN_SECONDS / IN_FLIGHT
    timings = []
    # Without a budget, then with one that every run fits (a constant price: all slots busy).
    for budget in ("-", "1000000"):
        control("/_fake/reset", {})
        timed = subprocess.run(
            [sys.executable, "-c", LIBRARY, simple, base + "/api", glif_id, name, budget],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        timings.append((float(timed.stdout.strip()), control("/_fake/stats")["rate_limited"]))
    (seconds, rate_limited), (budgeted, budget_429s) = timings
    control("/_fake/reset", {})
    batch = subprocess.run(
        [sys.executable, "-c", BATCH, *command("aioglif", tmp / "timed.jsonl")[3:]],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    batch_seconds = float(batch.stdout.split()[0])
    lines += [
        "",
        f"aioglif's `dispatch()` timed inside its process (no start-up, no files): {seconds:.2f} s,"
        f" {seconds / ideal:.3f}x the ideal {ideal:.0f} s; {rate_limited} 429s.",
        f"The same with `max_credits` (a constant price, a budget every run fits): {budgeted:.2f} s,"
        f" {budgeted / ideal:.3f}x the ideal; {budget_429s} 429s.",
        f"`aioglif run --batch` timed inside its process (input, job store, export): {batch_seconds:.2f} s,"
        f" {batch_seconds / ideal:.3f}x the ideal; {control('/_fake/stats')['runs_started']} runs started.",
    ]
    return "\n".join(lines) + "\n"
