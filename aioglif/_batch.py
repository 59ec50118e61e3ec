"""``aioglif run GLIF_ID --batch inputs.csv --out results.jsonl``: many runs, resumable.

Beside ``--out`` a ledger (``results.jsonl.ledger``) records each job as *submitted* before its
request is sent; ``--out`` gets a line per job when its result arrives. Run again with the same
``--out``: finished jobs are skipped, jobs never submitted are run, and jobs submitted without a
result (the process died while they ran) are reported as unknown instead of being paid for twice
(``--retry-unknown`` runs them again).
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import msgspec

from .dispatch import Job, JobResult, dispatch
from .graph import inputs as graph_inputs

__all__ = ["Ledger", "batch_command", "read_batch"]

_ENC = msgspec.json.Encoder()


def read_batch(path: Path) -> list[dict[str, str] | list[str]]:
    """The rows of a CSV (with a header of input names) or JSONL (objects or lists) file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    rows: list[dict[str, str] | list[str]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise ValueError(f"{path}: no header row naming the inputs")
        for row in reader:
            if None in row:
                raise ValueError(f"{path}:{reader.line_num}: more cells than header columns")
            rows.append({k: v or "" for k, v in row.items()})
        return rows
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc})") from None
        if (
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            rows.append(value)
        else:
            raise ValueError(f"{path}:{number}: a line must be an object or a list of strings")
    return rows


class Ledger:
    """The ``--out`` file and its ledger: which jobs are done, which were sent and not done."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.ledger = out.with_name(out.name + ".ledger")
        self.done: set[str] = set()
        self.submitted: set[str] = set()
        for path, seen, field in ((out, self.done, "key"), (self.ledger, self.submitted, "key")):
            if path.exists():
                seen.update(self._keys(path, field))

    @staticmethod
    def _keys(path: Path, field: str) -> list[str]:
        keys, good = [], 0
        data = path.read_bytes()
        for line in data.splitlines(keepends=True):
            try:
                keys.append(str(msgspec.json.decode(line)[field]))
            except (msgspec.DecodeError, KeyError, TypeError):
                break  # a line torn by a crash: everything from it on is rewritten
            good += len(line)
        if good < len(data):
            with path.open("r+b") as f:
                f.truncate(good)
        return keys

    @property
    def unknown(self) -> set[str]:
        return self.submitted - self.done

    def open(self) -> None:
        self._out = self.out.open("ab")
        self._ledger = self.ledger.open("ab")

    def close(self) -> None:
        self._out.close()
        self._ledger.close()

    @staticmethod
    def _append(f: Any, record: dict[str, Any]) -> None:
        f.write(_ENC.encode(record) + b"\n")
        f.flush()
        os.fsync(f.fileno())  # on disk before the run is sent (ledger) or reported (result)

    async def submitted_now(self, job: Job[str], key: str) -> None:
        await anyio.to_thread.run_sync(self._append, self._ledger, {"key": str(key), "at": time.time()})

    async def record(self, r: JobResult[str]) -> None:
        line = {
            "key": str(r.key),
            "ok": r.ok,
            "glif_id": r.job.glif_id,
            "inputs": r.job.inputs if isinstance(r.job.inputs, dict) else list(r.job.inputs),
            "output": r.output,
            "price": None if r.price is None else str(r.price),
            "error": None if r.error is None else str(r.error),
            "seconds": round(r.seconds, 3),
        }
        if r.result is not None:
            line["result"] = msgspec.to_builtins(r.result)
        await anyio.to_thread.run_sync(self._append, self._out, line)


def batch_command(args: argparse.Namespace, client_factory: Any) -> int:
    if args.out is None:
        raise ValueError("--batch needs --out FILE for the results")
    if args.input:
        raise ValueError("--batch and --input do not go together")
    rows = read_batch(args.batch)
    budget = None if args.max_credits is None else Decimal(str(args.max_credits))
    return int(anyio.run(_batch, args, rows, budget, client_factory))


async def _batch(
    args: argparse.Namespace,
    rows: list[dict[str, str] | list[str]],
    budget: Decimal | None,
    client_factory: Any,
) -> int:
    async with client_factory(args) as client:
        glif = await client.get_glif(args.glif_id)
        names = [s.name for s in graph_inputs(glif.data)] if glif.data is not None else []
        allow_unknown = bool(getattr(args, "allow_unknown_inputs", False))
        _check_columns(args.batch, rows, names, args.strict, allow_unknown)
        ledger = Ledger(args.out)
        jobs = [
            Job(args.glif_id, row, key=str(i), visibility="PUBLIC" if args.public else None)
            for i, row in enumerate(rows, start=1)
        ]
        unknown = ledger.unknown
        skip = ledger.done | (set() if args.retry_unknown else unknown)
        todo = [j for j in jobs if j.key not in skip]
        if unknown:
            verb = "running them again" if args.retry_unknown else "not run again (--retry-unknown runs them)"
            print(
                f"{len(unknown)} job(s) were sent before but have no result: {verb}: "
                f"{', '.join(sorted(unknown, key=int)[:10])}",
                file=sys.stderr,
            )
        print(f"{len(jobs)} jobs: {len(ledger.done)} done before, {len(todo)} to run", file=sys.stderr)
        ledger.open()
        try:
            run = dispatch(
                client,
                todo,
                concurrency=args.concurrency,
                strict=args.strict,
                allow_unknown_inputs=allow_unknown,
                max_credits=budget,
                before_submit=ledger.submitted_now,
            )
            interrupted = await _drive(run, ledger, len(todo))
        finally:
            ledger.close()
        s = run.stats
        print(
            f"ok {s.ok}, failed {s.failed}, rejected {s.rejected}, credits {s.credits}"
            + (" (stopped: budget reached)" if s.stopped_by_budget else ""),
            file=sys.stderr,
        )
        if interrupted:
            print(
                f"interrupted: results so far are in {args.out}; run the same command to go on",
                file=sys.stderr,
            )
            return 130
        left = len(todo) - s.done
        still_unknown = unknown and not args.retry_unknown
        return 0 if s.failed == s.rejected == 0 and not still_unknown and left == 0 else 1


def _check_columns(
    path: Path,
    rows: list[dict[str, str] | list[str]],
    names: list[str],
    strict: bool,
    allow_unknown: bool = False,
) -> None:
    """Every row must fit the glif's inputs: checked before the first run is sent.

    A column that is no input would be ignored by the API, and every row run on that input's
    default: a typo in a header must not cost a batch of runs (``--allow-unknown-inputs``).
    """
    for number, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            unknown = sorted(set(row) - set(names))
            if unknown and not allow_unknown:
                raise ValueError(
                    f"{path}: row {number}: {', '.join(unknown)} are not inputs of the glif"
                    f" (its inputs: {', '.join(names) or 'none'}; --allow-unknown-inputs sends them anyway)"
                )
            missing = [n for n in names if n not in row]
        else:
            if len(row) > len(names) and not allow_unknown:
                raise ValueError(f"{path}: row {number}: {len(row)} values; the glif takes {len(names)}")
            missing = names[len(row) :]
        if strict and missing:
            raise ValueError(f"{path}: row {number}: missing {', '.join(missing)} (--strict)")


async def _drive(run: Any, ledger: Ledger, total: int) -> bool:
    interrupted = False
    start = time.monotonic()
    async with anyio.create_task_group() as tg:

        async def signals() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                async for _ in received:
                    interrupted = True
                    if run._stopping:
                        print("\nabandoning the runs in flight", file=sys.stderr)
                        tg.cancel_scope.cancel()
                        return
                    print(
                        "\nstopping: no new runs; waiting for those in flight (Ctrl-C again to abandon)",
                        file=sys.stderr,
                    )
                    run.stop()

        async def work() -> None:
            async with run as results:
                async for r in results:
                    await ledger.record(r)
                    _progress(run, total, start)
            tg.cancel_scope.cancel()

        tg.start_soon(signals)
        tg.start_soon(work)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return interrupted


def _progress(run: Any, total: int, start: float) -> None:
    s = run.stats
    elapsed = time.monotonic() - start
    eta = (total - s.done) * elapsed / s.done if s.done else 0.0
    line = (
        f"done {s.done}/{total}  failed {s.failed + s.rejected}  in flight {s.in_flight}  "
        f"credits {s.credits:.4f}  eta {eta:.0f}s"
    )
    if sys.stderr.isatty():
        print("\r" + line, end="", file=sys.stderr, flush=True)
    elif s.done % 50 == 0 or s.done == total:
        print(line, file=sys.stderr, flush=True)
