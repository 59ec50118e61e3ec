"""Recovering ``unknown`` jobs without paying twice: find their runs among the user's runs.

A job is ``unknown`` when its request was sent and no answer was stored (the process was killed,
the connection broke, a stop gave it up): the run may have been made and paid for. Before such a
job is run again, the user's runs of the glif are listed (``GET /api/runs?glifId=&userId=``,
the user from ``GET /api/me``) through the ordinary listing machinery, so every order, page cap
and paging the server may have is survived. A run is the job's when it is of that glif and that
user, was created at or after the job was sent (less :data:`SKEW` for the clocks), and its
inputs equal the job's: both normalised as the job identity is (named; positional values named
by the glif's inputs), over the glif's inputs, an input not given counting as its default (the
Simple API answers the inputs it ran on, defaults filled in). Matching is one to one, earliest
first: two jobs with equal inputs need two runs, and an ok job with those inputs keeps a run for
itself first, so a run already stored for one job is never adopted by another.

Best effort, by the evidence: only public runs are documented as listed; whether a token
lists its owner's private runs is not known. A job not found stays ``unknown``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ._errors import GlifError
from ._jobstore import Candidate, JobRecord, JobStore
from .client import GlifClient
from .graph import InputSpec
from .models import Run

__all__ = ["LOOKUP_CAP", "SKEW", "Found", "find_runs", "recover"]

SKEW = 600.0  # seconds: a run stamped by the server's clock up to this much before we sent it
LOOKUP_CAP = 5_000  # runs listed at most: the user's runs of one glif, newest first as a rule


@dataclass(frozen=True)
class Found:
    job_id: str
    run: Run

    def record(self) -> JobRecord:
        """The job's answer, taken from its run: output, price when given, the run as listed."""
        price = self.run.price
        return JobRecord(
            state="ok",
            price=None if price is None else str(price),
            output=self.run.output,
            result=msgspec.json.encode(self.run).decode(),
        )


async def recover(
    client: GlifClient,
    store: JobStore,
    in_db: Callable[..., Awaitable[Any]],
    glif_id: str,
    specs: Sequence[InputSpec],
    unknown: Sequence[str],
) -> tuple[int, str]:
    """Look the unknown jobs up among the user's runs and adopt those found: how many, and a
    line saying what happened."""
    candidates = await in_db(store.candidates, glif_id, unknown)
    found, problem = await find_runs(client, glif_id, specs, candidates)
    for f in found:
        await in_db(store.adopt, f.job_id, f.run.id, f.record())
    missing = len(unknown) - len(found)
    said = (
        f"{len(unknown)} unknown job(s) looked up among your runs of the glif: {len(found)} found"
        " (recovered: ok from their runs, not run again)"
        + (
            f", {missing} not found (only public runs are surely listed: a private run, or one"
            " that never started, is not found; --retry-unknown runs them again)"
            if missing
            else ""
        )
        + (f"; {problem}" if problem else "")
    )
    return len(found), said


async def find_runs(
    client: GlifClient, glif_id: str, specs: Sequence[InputSpec], jobs: Sequence[Candidate]
) -> tuple[list[Found], str | None]:
    """The unknown jobs among ``jobs`` found among the user's runs, and what went wrong (if
    anything) while looking: what was listed before a failure is still used."""
    unknown = [j for j in jobs if j.state == "unknown"]
    if not unknown:
        return [], None
    try:
        me = await client.me()
    except GlifError as exc:
        return [], f"could not ask who you are ({exc})"
    earliest = min(j.submitted_at for j in unknown) - SKEW
    runs: dict[str, list[Run]] = {}
    problem = None
    try:
        async for run in client.runs(glif_id=glif_id, user_id=me.user.id, max_items=LOOKUP_CAP):
            # The API may apply only one of the two filters, or none: checked here.
            if run.glif_id != glif_id or run.user_id != me.user.id or run.inputs is None:
                continue
            if run.created_at is None or run.created_at.timestamp() < earliest:
                continue
            runs.setdefault(_normal(run.inputs, specs), []).append(run)
    except GlifError as exc:
        problem = f"listing your runs failed ({exc}); the runs listed before were used"
    return match(jobs, runs, specs), problem


def match(jobs: Sequence[Candidate], runs: dict[str, list[Run]], specs: Sequence[InputSpec]) -> list[Found]:
    """One run per job, earliest first, per set of equal inputs. Runs known to be an ok job's
    are set aside; then each job (ok ones too: their runs may carry no id) in the order they
    were sent takes the earliest run created after it was sent; unknown jobs adopt theirs."""
    groups: dict[str, list[Candidate]] = {}
    for job in jobs:
        groups.setdefault(_normal(json.loads(job.inputs), specs), []).append(job)
    found: list[Found] = []
    for inputs, group in groups.items():
        known = {j.run_id for j in group if j.state == "ok" and j.run_id is not None}
        pool = sorted(
            (r for r in runs.get(inputs, []) if r.id not in known),
            key=lambda r: (r.created_at.timestamp() if r.created_at else 0.0, r.id),
        )
        waiting = sorted(
            (j for j in group if j.state == "unknown" or j.run_id is None),
            key=lambda j: (j.submitted_at, j.state != "ok", j.id),
        )
        for job in waiting:
            for i, run in enumerate(pool):
                if run.created_at is not None and run.created_at.timestamp() >= job.submitted_at - SKEW:
                    del pool[i]
                    if job.state == "unknown":
                        found.append(Found(job.id, run))
                    break
    return found


def _normal(inputs: dict[str, object] | list[object], specs: Sequence[InputSpec]) -> str:
    """Inputs over the glif's inputs, each not given as its default: equal runs, equal text."""
    if isinstance(inputs, list):  # positional values beyond the glif's inputs: named as sent
        inputs = dict(zip([s.name for s in specs], inputs, strict=False))
    return json.dumps(
        {s.name: inputs.get(s.name, s.default or "") for s in specs}, ensure_ascii=False, sort_keys=True
    )
