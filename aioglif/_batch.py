"""``aioglif run GLIF_ID --batch inputs.csv --out results.jsonl``: a durable job queue.

The batch's state lives in a job store beside ``--out`` (``results.jsonl.jobs.sqlite``, see
:mod:`aioglif._jobstore`): each job is committed as submitted before its request is sent and with
its answer as soon as it comes. ``--out`` is exported from the store at the end (also after
Ctrl-C), written aside and renamed. Run the same command again: done jobs are skipped by
identity, new rows run, failed and unknown jobs wait for ``--retry-failed``/``--retry-unknown``.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio

from ._batchinput import Row, read_batch
from ._errors import GlifError
from ._jobstore import JobRecord, JobStore, StoredJob, identity, store_path
from ._recover import recover
from ._store import StoreError
from .dispatch import Dispatch, DispatchStats, Job, JobResult, dispatch
from .graph import inputs as graph_inputs

__all__ = ["batch_command"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# After the first Ctrl-C, how long the runs in flight get to answer: with what follows (the
# last commits, the export, closing) the process has ended within 2 s, whatever the server does.
STOP_GRACE = 1.5
# Past the grace, how long the last commits may take before everything is cancelled: the store
# then marks what is left submitted as unknown (a safety net; nothing should need it).
_SETTLE = 0.3
_FORMATS = {".csv": "csv", ".parquet": "parquet"}


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def output_format(out: Path) -> str:
    return _FORMATS.get(out.suffix.lower(), "jsonl")


def check_out(args: argparse.Namespace) -> None:
    """Refuse an ``--out`` we must not write, before anything is read or sent."""
    out: Path = args.out
    if out is None:
        raise ValueError("--batch needs --out FILE for the results")
    if args.input:
        raise ValueError("--batch and --input do not go together")
    if out.exists() and out.is_dir():
        raise ValueError(f"--out {out} is a directory")
    if out.exists() and not out.is_file():
        # A pipe or a device: reading it to see whose it is could wait forever or never end.
        raise ValueError(f"--out {out} is not a regular file; results go to a file of their own")
    if args.batch.exists() and out.exists() and os.path.samefile(args.batch, out):
        raise ValueError(f"--out {out} is the input file; results go to a file of their own")
    if out.name.endswith(".jobs.sqlite"):
        raise ValueError(f"--out {out} names a job store; name the results file instead")
    if output_format(out) == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError("--out FILE.parquet needs pyarrow: pip install 'aioglif[parquet]'") from None
    if out.exists() and not store_path(out).exists():
        with out.open("rb") as f:
            head = f.read(16)
        what = "an SQLite database (a crawl's?)" if head.startswith(b"SQLite format 3") else "a file"
        raise ValueError(
            f"--out {out} is {what} that aioglif did not write (no job store beside it);"
            " refusing to touch it: choose another --out"
        )


def batch_command(args: argparse.Namespace, client_factory: Any) -> int:
    check_out(args)
    rows = read_batch(args.batch, fill_defaults=args.fill_defaults)
    budget = None if args.max_credits is None else Decimal(str(args.max_credits))
    store = JobStore(store_path(args.out))  # locked: a second process stops here
    try:
        if args.out.exists() and not store.wrote(args.out):
            raise ValueError(
                f"--out {args.out} was changed since aioglif wrote it; refusing to overwrite it"
                " (move it away: the results are all in the job store and are written again)"
            )
        return int(anyio.run(_batch, args, rows, budget, client_factory, store))
    except StoreError as exc:
        raise ValueError(str(exc)) from None
    except GlifError:
        raise  # the API or the network: exit 1. A timeout is also an OSError, and no --out's fault
    except OSError as exc:  # --out unreadable or unwritable: no traceback
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise  # a full disk is exit 1, as everywhere: the same command goes on once there is room
        raise ValueError(
            f"cannot use --out {args.out}: {exc.strerror or exc}; every answer so far is in"
            f" {store.path}, and the same command writes {args.out} again"
        ) from None
    finally:
        store.close()


def _jobs(
    args: argparse.Namespace, rows: list[Row], names: list[str]
) -> tuple[list[tuple[str, str, dict[str, str] | list[str], str | None, int]], int]:
    """Each row's job: (identity, glif, canonical inputs, key, row). Also how many rows repeat."""
    key_column: str | None = args.key
    jobs: dict[str, tuple[str, str, dict[str, str] | list[str], str | None, int]] = {}
    repeated = 0
    for row in rows:
        values = row.values
        key: str | None = None
        if key_column is not None:
            if not isinstance(values, dict) or key_column not in values:
                raise ValueError(f"{args.batch}: row {row.number}: no {key_column!r} (--key)")
            # The key column is not sent, unless it is one of the glif's inputs: dropping it
            # would pay for runs on that input's default.
            values = {k: v for k, v in values.items() if k != key_column or k in names}
            key = row.values[key_column]  # type: ignore[call-overload]
        _check_row(args.batch, row.number, values, names, args.strict, args.allow_unknown_inputs)
        inputs: dict[str, str] | list[str] = (
            dict(sorted(values.items()))
            if isinstance(values, dict)
            else dict(zip(names, values, strict=False))
            if names and len(values) <= len(names)
            else list(values)
        )
        job_id = identity(args.glif_id, inputs, key)
        if job_id in jobs:
            repeated += 1
            continue
        jobs[job_id] = (job_id, args.glif_id, inputs, key, row.number)
    return list(jobs.values()), repeated


def _check_row(
    path: Path,
    number: int,
    row: dict[str, str] | list[str],
    names: list[str],
    strict: bool,
    allow_unknown: bool,
) -> None:
    """Every row must fit the glif's inputs: checked before the first run is sent.

    A column that is no input would be ignored by the API, and every row run on that input's
    default: a typo in a header must not cost a batch of runs (``--allow-unknown-inputs``).
    """
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


async def _batch(
    args: argparse.Namespace,
    rows: list[Row],
    budget: Decimal | None,
    client_factory: Any,
    store: JobStore,
) -> int:
    db = anyio.CapacityLimiter(1)

    async def in_db(fn: Any, *a: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *a, limiter=db)

    async with client_factory(args) as client:
        glif = await client.get_glif(args.glif_id)
        specs_of_glif = graph_inputs(glif.data) if glif.data is not None else []
        names = [s.name for s in specs_of_glif]
        specs, repeated = _jobs(args, rows, names)
        made_unknown = await in_db(store.begin, specs)
        known: dict[str, StoredJob] = await in_db(store.jobs, [s[0] for s in specs])
        before = _count(known.values())
        recovered = 0
        if before["unknown"]:
            unknown = [i for i, job in known.items() if job.state == "unknown"]
            recovered, said = await recover(client, store, in_db, args.glif_id, specs_of_glif, unknown)
            _say(said)
            if recovered:
                known = await in_db(store.jobs, [s[0] for s in specs])
        wanted = (
            {"pending"}
            | ({"failed"} if args.retry_failed else set())
            | ({"unknown"} if args.retry_unknown else set())
        )
        todo = [
            Job(args.glif_id, inputs, key=job_id, visibility="PUBLIC" if args.public else None)
            for job_id, _, inputs, _, _ in specs
            if known[job_id].state in wanted
        ]
        _say(
            f"{len(specs)} jobs in {args.batch} ({len(rows)} rows"
            + (f"; {repeated} repeat an earlier row and are the same job" if repeated else "")
            + f"): {_counts_text(before)}; {len(todo)} to run now"
        )
        if made_unknown:
            _say(
                f"{made_unknown} job(s) were sent by a run that ended before their answer came:"
                " now unknown (they may have been paid for)"
            )
        run = dispatch(
            client,
            todo,
            concurrency=args.concurrency,
            strict=args.strict,
            allow_unknown_inputs=args.allow_unknown_inputs,
            max_credits=budget,
            before_submit=_submitted(store),
        )
        try:
            interrupted = await _drive(run, store, len(todo), args.stop_grace)
        finally:
            with anyio.CancelScope(shield=True):
                # No run is in flight any more (the dispatch's tasks are done): one abandoned by
                # a second Ctrl-C is unknown now, in the export and the counts, not "submitted".
                await in_db(store.settle)
                written = await in_db(store.export, args.out, output_format(args.out))
        after = _count((await in_db(store.jobs, [s[0] for s in specs])).values())
    return _summary(args, run, before, after, len(todo), written, interrupted, recovered)


def _count(jobs: Any) -> dict[str, int]:
    counts = dict.fromkeys(("ok", "failed", "unknown", "pending", "submitted"), 0)
    for job in jobs:
        counts[job.state] += 1
    return counts


def _counts_text(c: dict[str, int]) -> str:
    return f"{c['ok']} ok, {c['failed']} failed, {c['unknown']} unknown, {c['pending']} never run"


def _summary(
    args: argparse.Namespace,
    run: Dispatch[Any],
    before: dict[str, int],
    after: dict[str, int],
    planned: int,
    written: int,
    interrupted: bool,
    recovered: int = 0,
) -> int:
    s = run.stats
    _say(
        f"this run: {s.submitted} sent, {s.ok} ok, {s.failed} failed, {s.rejected} rejected"
        f" (did not match the glif), credits {s.credits}"
        + (f"; stopped starting runs: {s.stopped_because}" if s.stopped_because else "")
        + (f"; {recovered} unknown job(s) recovered from your runs (not paid again)" if recovered else "")
    )
    _say(f"now: {_counts_text(after)}")
    _say(f"{written} jobs written to {args.out} (all the job store holds, this input's and earlier)")
    if after["failed"]:
        _say(f"  failed: the run failed or was refused (error_kind in {args.out}); --retry-failed runs them")
    if s.abandoned:
        _say(
            f"  given up: {s.abandoned} run(s) still in flight when the stop's grace ran out: they may"
            " have run and been charged, and are unknown now. A longer --stop-grace waits for such"
            " answers (they are paid for); --retry-unknown runs them again (perhaps paying twice)"
        )
    if after["unknown"]:
        _say(
            "  unknown: sent, but no answer was stored (the process ended, or the connection broke):"
            " they may have run and been paid for; --retry-unknown runs them again"
        )
    if after["pending"]:
        why = s.stopped_because or ("interrupted" if interrupted else "not started")
        _say(f"  never run: {after['pending']} ({why}); the same command runs them")
    if interrupted:
        _say(f"interrupted: answers so far are stored; run the same command to go on ({EXIT_INTERRUPTED})")
        return EXIT_INTERRUPTED
    if after["failed"] or after["unknown"] or after["pending"]:
        _say(f"exit {EXIT_INCOMPLETE}: not every job of {args.batch} is ok")
        return EXIT_INCOMPLETE
    _say(f"exit {EXIT_OK}: every job of {args.batch} is ok")
    return EXIT_OK


def _record(r: JobResult[Any]) -> JobRecord:
    result = r.result
    price = result.price if result is not None else None
    raw = r.raw.decode("utf-8", "replace") if r.raw is not None else None
    return JobRecord(
        state=r.state,
        error_kind=None if r.ok else r.kind,
        error=None if r.error is None else str(r.error),
        price=None if price is None else str(price),
        output=result.output if result is not None else None,
        result=raw,
        seconds=round(r.seconds, 3),
    )


def _submitted(store: JobStore) -> Any:
    # While runs go, the two small commits per job are made on the event loop's thread: one
    # commit (WAL, synchronous=NORMAL: no fsync) costs less than a hop to a worker thread, and
    # the next run starts only once its commit is made, so every hop would slow the batch.
    async def submitted(job: Job[str], key: str) -> None:
        store.submitted(key)

    return submitted


async def _drive(run: Dispatch[Any], store: JobStore, total: int, grace: float) -> bool:
    interrupted = False
    progress = _Progress(total)
    async with anyio.create_task_group() as tg:

        def give_up(seconds: float) -> None:
            run.stop("interrupted", grace=seconds)
            # Whatever else might hang: everything is over by then.
            tg.cancel_scope.deadline = min(tg.cancel_scope.deadline, anyio.current_time() + seconds + _SETTLE)

        async def signals() -> None:
            nonlocal interrupted
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as received:
                async for _ in received:
                    if interrupted:
                        # Still received after this one: a third Ctrl-C must not interrupt the
                        # last commits (give_up bounds them).
                        _say("\ngiving up the runs in flight now (they are left unknown)")
                        give_up(0)
                        continue
                    interrupted = True
                    flying = run.stats.in_flight
                    _say(
                        f"\nstopping: no new runs; waiting up to {grace:g} s for the {flying} in flight"
                        " (--stop-grace), then giving them up; Ctrl-C again gives them up now"
                    )
                    give_up(grace)

        async def work() -> None:
            async with run as results:
                async for r in results:
                    store.record(r.key, _record(r))
                    progress.update(run.stats)
            tg.cancel_scope.cancel()

        tg.start_soon(signals)
        tg.start_soon(work)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return interrupted


class _Progress:
    """The batch's progress on stderr: one line rewritten in place on a terminal; off a terminal
    (a log file), a line each 5% of the jobs or 10 s, never the same count twice."""

    def __init__(self, total: int, *, terminal: bool | None = None) -> None:
        self.total, self.start = total, time.monotonic()
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.step = max(1, total // 20)
        self.printed_done: int | None = None
        self.printed_at = self.start

    def update(self, s: DispatchStats) -> None:
        now = time.monotonic()
        elapsed = now - self.start
        # The ETA's denominator is the planned work (every job is known up front): it converges.
        eta = (self.total - s.done) * elapsed / s.done if s.done else 0.0
        line = (
            f"done {s.done}/{self.total}  failed {s.failed + s.rejected}  in flight {s.in_flight}  "
            f"credits {s.credits:.4f}  eta {eta:.0f}s"
        )
        if self.terminal:
            print("\r" + line, end="", file=sys.stderr, flush=True)
            return
        if s.done == self.printed_done:
            return
        last = self.printed_done or 0
        if s.done - last >= self.step or s.done == self.total or now - self.printed_at >= 10:
            print(line, file=sys.stderr, flush=True)
            self.printed_done, self.printed_at = s.done, now
