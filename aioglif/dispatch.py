"""Running many glifs at once: jobs in, results out in the order they finish.

::

    jobs = [Job("clxyz...", {"topic": t}, key=t) for t in topics]
    async with GlifClient() as client, dispatch(client, jobs, concurrency=20) as results:
        async for r in results:
            print(r.key, r.output if r.ok else r.error)

A job whose inputs cannot match its glif (names that are no input block, more positional values
than it has inputs, too few with ``strict``) is rejected before it costs anything: each glif's
graph is read once. The API itself ignores unknown input names and runs on the defaults, so a
typo in a CSV header would otherwise pay for runs that ignore the column;
``allow_unknown_inputs=True`` sends such jobs anyway. A run that
fails (the Simple API's 200 with ``error``) is a failed result, not an exception; the batch goes
on unless ``fail_fast``.

``max_credits`` is a hard budget: spending passes it by at most one run's price, as long as no
run costs more than the highest price its glif answered before that run started (the rule in
full: :mod:`aioglif._budget`). A price that is not a finite number >= 0 makes that job fail
(:class:`PriceError`) and stops all further spending. The Simple API saying the account is out
of credits stops starting runs too.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Generic

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._budget import Budget, Reservation, parse_budget
from ._errors import (
    AuthenticationError,
    GlifError,
    NotFoundError,
    PermissionDeniedError,
    ResponseDecodeError,
    RunFailedError,
)
from ._jobs import (
    STATE_OF_KIND as STATE_OF_KIND,
)
from ._jobs import (
    AbandonedError,
    DispatchStats,
    Job,
    JobKind,
    JobResult,
    JobState,
    K,
    PriceError,
    RejectedJob,
    error_kind,
)
from .client import GlifClient
from .graph import inputs as graph_inputs
from .models import Glif, RunResult

__all__ = [
    "AbandonedError",
    "Dispatch",
    "DispatchStats",
    "Job",
    "JobKind",
    "JobResult",
    "JobState",
    "PriceError",
    "RejectedJob",
    "dispatch",
    "error_kind",
]


class Dispatch(Generic[K]):
    """A running batch, made by :func:`dispatch`: ``async with`` it, then ``async for`` its results.

    It owns its task group; results come out of a bounded stream as the runs finish.
    """

    def __init__(
        self,
        client: GlifClient,
        jobs: Iterable[Job[K]] | AsyncIterable[Job[K]],
        *,
        concurrency: int,
        strict: bool,
        allow_unknown_inputs: bool,
        fail_fast: bool,
        max_credits: Decimal | None,
        check_credits: bool,
        before_submit: Callable[[Job[K], K], Awaitable[None]] | None,
    ) -> None:
        self.client = client
        self._jobs = jobs
        self.concurrency = concurrency
        self.strict = strict
        self.allow_unknown_inputs = allow_unknown_inputs
        self.fail_fast = fail_fast
        self.check_credits = check_credits
        self._before_submit = before_submit
        self.stats = DispatchStats()
        self._stopping = False
        self._first_failure: GlifError | None = None
        self._graphs: dict[str, Glif | GlifError] = {}
        self._graph_locks: dict[str, anyio.Lock] = {}
        self._tg: TaskGroup | None = None
        self._send: MemoryObjectSendStream[JobResult[K]]
        self._receive: MemoryObjectReceiveStream[JobResult[K]]
        self._drained = False
        self._budget = Budget(max_credits, self.stats, self.stop, lambda: self._stopping)
        # Taking jobs and starting runs (cancelled by stop()); the runs in flight, each waited
        # for until the abandon time a stop's grace set.
        self._intake: anyio.CancelScope | None = None
        self._flights: set[anyio.CancelScope] = set()
        self._abandon_at = math.inf

    @property
    def max_credits(self) -> Decimal | None:
        """The budget kept (lowered to the credits left by ``check_credits``), or None."""
        return self._budget.max_credits

    def stop(self, because: str = "stopped", *, grace: float | None = None) -> None:
        """Start no more runs. Those in flight finish and their results still come out; with
        ``grace``, only those that answer within ``grace`` seconds: the rest are given up and
        come out as :class:`AbandonedError` (kind ``abandoned``, state ``unknown``: they may
        have run and been paid for). ``grace=0`` gives them up at once; calling it again can
        only shorten the grace. Call it from the batch's event loop.
        """
        if grace is not None and not (isinstance(grace, (int, float)) and 0 <= grace < math.inf):
            raise ValueError(f"grace must be a number of seconds >= 0, got {grace!r}")
        if not self._stopping:
            self.stats.stopped_because = because
        self._stopping = True
        if self._intake is not None:
            self._intake.cancel()  # a graph read or a job source that hangs must not hold us
        if grace is not None:
            self._abandon_at = min(self._abandon_at, anyio.current_time() + grace)
            for flight in self._flights:
                flight.deadline = min(flight.deadline, self._abandon_at)
        self._budget.signal()

    async def __aenter__(self) -> Dispatch[K]:
        if self.check_credits:
            me = await self.client.me()
            remaining = me.credits.remaining if me.credits else None
            if remaining is not None:
                if remaining <= 0:
                    raise ValueError(f"no credits left ({remaining:g}): nothing was run")
                left = remaining
                limit = self._budget.max_credits
                self._budget.max_credits = left if limit is None else min(limit, left)
        self._budget.open()
        self._send, self._receive = anyio.create_memory_object_stream[JobResult[K]](self.concurrency)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._produce)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        self._receive.close()
        if exc_type is not None or not self._drained:
            # The caller left before the last result: start nothing more, abandon what runs.
            self.stop()
            self._tg.cancel_scope.cancel()
        # Not handed the caller's exception: the task group would wrap it in a group; it
        # propagates as it is once our tasks are done.
        await self._tg.__aexit__(None, None, None)
        return None

    def __aiter__(self) -> AsyncIterator[JobResult[K]]:
        return self._results()

    async def _results(self) -> AsyncIterator[JobResult[K]]:
        async for result in self._receive:
            yield result
        self._drained = True
        if self.fail_fast and self._first_failure is not None:
            raise self._first_failure

    # --- the work --------------------------------------------------------------------------

    async def _produce(self) -> None:
        slots = anyio.Semaphore(self.concurrency)
        async with self._send, anyio.create_task_group() as runs:
            with anyio.CancelScope() as self._intake:
                if not self._stopping:
                    await self._take(runs, slots)

    async def _take(self, runs: TaskGroup, slots: anyio.Semaphore) -> None:
        """Take the jobs one by one and start their runs, until they run out or a stop."""
        index = 0
        async for job in _aiter(self._jobs):
            # A job without a key is keyed by its index: K is int for such jobs.
            key: K = job.key if job.key is not None else index  # type: ignore[assignment]
            index += 1
            await slots.acquire()
            if self._stopping:
                slots.release()
                break
            problem = await self._check(job)
            if problem is not None:
                slots.release()
                self.stats.rejected += 1
                await self._deliver(JobResult(job, key, None, problem, 0.0))
                continue
            reserved = await self._budget.reserve(job.glif_id)
            if reserved is None:
                slots.release()
                break
            if self._before_submit is not None:
                # Once a ledger is told the run is sent, it is sent: a stop meanwhile
                # must not leave a record of a run that never was.
                with anyio.CancelScope(shield=True):
                    await self._before_submit(job, key)
            self.stats.submitted += 1
            self.stats.in_flight += 1
            runs.start_soon(self._run, job, key, slots, reserved)

    async def _run(self, job: Job[K], key: K, slots: anyio.Semaphore, reserved: Reservation) -> None:
        start = time.perf_counter()
        result: RunResult | None = None
        error: GlifError | None = None
        raw: bytes | None = None
        flight = anyio.CancelScope(deadline=self._abandon_at)
        self._flights.add(flight)
        try:
            with flight:
                result, raw = await self.client._run_glif(
                    job.glif_id, job.inputs, visibility=job.visibility, strict=self.strict
                )
            if flight.cancelled_caught:
                error = AbandonedError(
                    "sent, then given up when the stop's grace ran out: it may have run and been paid for"
                )
        except (RunFailedError, ResponseDecodeError) as exc:
            error, raw = exc, exc.body
            result = exc.result if isinstance(exc, RunFailedError) else None
        except GlifError as exc:
            error = exc
        finally:
            self._flights.discard(flight)
            # Spent and released in one step (no await between): the budget never sees a gap.
            self.stats.in_flight -= 1
            slots.release()
            error = self._budget.settle(job.glif_id, reserved, result, error)
            if error_kind(error) == "out_of_credits":
                self.stop("out of credits")
            elif isinstance(error, (AuthenticationError, PermissionDeniedError)):
                self.stop("refused")
            self._budget.signal()
        done = JobResult(job, key, result, error, time.perf_counter() - start, raw)
        if error is None:
            self.stats.ok += 1
        elif isinstance(error, AbandonedError):
            self.stats.abandoned += 1  # not a failure (fail_fast): the batch was stopping anyway
        else:
            self.stats.failed += 1
            if self.fail_fast:
                self._first_failure = self._first_failure or error
                self.stop("failure")
        await self._deliver(done)

    async def _deliver(self, result: JobResult[K]) -> None:
        try:
            await self._send.send(result)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self.stop()  # nobody reads the results any more

    async def _check(self, job: Job[K]) -> GlifError | None:
        """Why the job cannot match its glif, or None. The graph is read once per glif."""
        if not isinstance(job.glif_id, str) or not job.glif_id.strip():
            return RejectedJob("the job has no glif id")
        glif = await self._graph(job.glif_id)
        if isinstance(glif, GlifError):
            return RejectedJob(f"glif {job.glif_id!r}: {glif.message}")
        specs = graph_inputs(glif.data) if glif.data is not None else []
        names = [s.name for s in specs]
        if isinstance(job.inputs, Mapping):
            unknown = sorted(set(job.inputs) - set(names))
            if unknown and not self.allow_unknown_inputs:
                return RejectedJob(
                    f"inputs {', '.join(unknown)} are not inputs of glif {job.glif_id!r}"
                    f" (its inputs: {', '.join(names) or 'none'}; the API would ignore them:"
                    " allow_unknown_inputs=True sends the job anyway)"
                )
            given = len([n for n in names if n in job.inputs])
        else:
            if len(job.inputs) > len(names) and not self.allow_unknown_inputs:
                return RejectedJob(f"{len(job.inputs)} inputs given; glif {job.glif_id!r} takes {len(names)}")
            given = min(len(job.inputs), len(names))
        if self.strict and given < len(names):
            missing = (
                names[given:]
                if not isinstance(job.inputs, Mapping)
                else [n for n in names if n not in job.inputs]
            )
            return RejectedJob(f"strict: missing inputs {', '.join(missing)}")
        return None

    async def _graph(self, glif_id: str) -> Glif | GlifError:
        lock = self._graph_locks.setdefault(glif_id, anyio.Lock())
        async with lock:
            if glif_id not in self._graphs:
                try:
                    self._graphs[glif_id] = await self.client.get_glif(glif_id)
                except NotFoundError as exc:
                    self._graphs[glif_id] = exc
            return self._graphs[glif_id]


async def _aiter(jobs: Iterable[Job[K]] | AsyncIterable[Job[K]]) -> AsyncIterator[Job[K]]:
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    else:
        for job in jobs:
            yield job


def dispatch(
    client: GlifClient,
    jobs: Iterable[Job[K]] | AsyncIterable[Job[K]],
    *,
    concurrency: int = 8,
    strict: bool = False,
    allow_unknown_inputs: bool = False,
    fail_fast: bool = False,
    max_credits: Decimal | float | str | None = None,
    check_credits: bool = False,
    before_submit: Callable[[Job[K], K], Awaitable[None]] | None = None,
) -> Dispatch[K]:
    """Run the jobs, ``concurrency`` at a time, through the client's limiter and retries.

    Use as ``async with dispatch(...) as results: async for r in results``. ``before_submit``
    is awaited before each run is sent (a ledger writes its record there). ``check_credits``
    reads ``me().credits.remaining`` first and keeps the budget within it.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
    budget = parse_budget(max_credits)
    return Dispatch(
        client,
        jobs,
        concurrency=concurrency,
        strict=strict,
        allow_unknown_inputs=allow_unknown_inputs,
        fail_fast=fail_fast,
        max_credits=budget,
        check_credits=check_credits,
        before_submit=before_submit,
    )
