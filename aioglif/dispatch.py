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
run costs more than the highest price its glif answered before that run started. Each run in
flight reserves that highest (nonzero) price, and a run starts only if what was spent plus what is
reserved plus its own reservation fits; until a glif has answered a price above 0, one run at a
time. A run that costs more than its reservation means the runs of its glif in flight may too:
none starts until they have answered, and that glif runs one at a time from then on. A price that
is not a finite number >= 0 makes that job fail (:class:`PriceError`) and stops all further
spending; so does a run with no price at all while a budget is kept. The Simple API
saying the account is out of credits stops starting runs too.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Literal

import anyio
import msgspec
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import (
    APIStatusError,
    AuthenticationError,
    GlifError,
    NotFoundError,
    OutOfCreditsError,
    PermissionDeniedError,
    RateLimitedError,
    ResponseDecodeError,
    RunFailedError,
    TransportError,
)
from .client import GlifClient
from .graph import inputs as graph_inputs
from .models import Glif, RunResult

__all__ = [
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

if TYPE_CHECKING:
    # The key type of a job without a key is its index, an int (PEP 696 default, for checkers).
    from typing_extensions import TypeVar

    K = TypeVar("K", default=int)
else:
    from typing import TypeVar

    K = TypeVar("K")


@dataclass(frozen=True)
class Job(Generic[K]):
    """One run to make: a glif and its inputs (named, or positional strings).

    ``key`` is yours and comes back on the result; a job without one gets its index (an int).
    """

    glif_id: str
    inputs: Mapping[str, str] | Sequence[str] = ()
    key: K | None = None
    visibility: str | None = None


class RejectedJob(GlifError):
    """The job cannot match its glif (unknown input names, too few inputs, no such glif)."""


@dataclass(frozen=True)
class JobResult(Generic[K]):
    """The end of one job: ``result`` when it ran, ``error`` when it failed or was rejected."""

    job: Job[K]
    key: K
    result: RunResult | None
    error: GlifError | None
    seconds: float  # from sending the run to its answer; 0 for a rejected job
    raw: bytes | None = None  # the answer as sent, whole (also when it did not decode)

    @property
    def kind(self) -> JobKind:
        """``ok``, or why not: see :func:`error_kind`."""
        return error_kind(self.error)

    @property
    def state(self) -> JobState:
        """What the job is now: ``ok``; ``failed``; ``unknown`` (sent, no answer: it may have
        run and been paid for); ``pending`` (it surely did not start: it may run later)."""
        return STATE_OF_KIND[self.kind]

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def price(self) -> Decimal | None:
        if self.result is not None:
            return self.result.price
        if isinstance(self.error, RunFailedError):
            return self.error.result.price
        return None

    @property
    def output(self) -> str | list[object] | dict[str, object] | None:
        return self.result.output if self.result is not None else None


class PriceError(GlifError):
    """The answer's ``price`` is not a finite number ≥ 0: nothing more is spent on the batch."""


JobKind = Literal[
    "ok",
    "rejected",
    "run_failed",
    "bad_price",
    "undecodable",
    "rate_limited",
    "out_of_credits",
    "refused",
    "not_sent",
    "no_answer",
    "server_error",
    "error",
]
"""Why a job did not end ok (``ok`` when it did)."""
JobState = Literal["ok", "failed", "unknown", "pending"]
"""What a job is now: done, failed, perhaps run and paid for, or surely not started."""

# Why a job did not end ok, and the state that leaves it in.
STATE_OF_KIND: dict[JobKind, JobState] = {
    "ok": "ok",
    "rejected": "failed",  # cannot match its glif, or no such glif: nothing was paid
    "run_failed": "failed",  # the Simple API's 200 + error: the run ran and failed
    "bad_price": "failed",  # ran; its price makes no sense (kept, and spending stops)
    "undecodable": "failed",  # ran; the answer is kept raw
    "rate_limited": "pending",  # said so after every retry: the run did not start
    "out_of_credits": "pending",  # the account cannot pay: did not start
    "refused": "pending",  # 401/403: did not start
    "not_sent": "pending",  # no connection was made
    "no_answer": "unknown",  # sent; timed out or the connection broke: it may have run
    "server_error": "unknown",  # sent; a 5xx: it may have run
    "error": "failed",
}


def error_kind(error: GlifError | None) -> JobKind:
    """The kind of a job's error, a key of :data:`STATE_OF_KIND` (``ok`` for no error)."""
    if error is None:
        return "ok"
    if isinstance(error, (RejectedJob, NotFoundError)):
        return "rejected"
    if isinstance(error, OutOfCreditsError):
        return "out_of_credits"
    if isinstance(error, RunFailedError):
        return "run_failed"
    if isinstance(error, PriceError):
        return "bad_price"
    if isinstance(error, ResponseDecodeError):
        return "undecodable"
    if isinstance(error, RateLimitedError):
        return "rate_limited"
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        return "refused"
    if isinstance(error, TransportError):
        return "no_answer" if error.request_sent else "not_sent"
    if isinstance(error, APIStatusError):
        if error.status == 402:  # Payment Required: the HTTP way of "not enough credits"
            return "out_of_credits"
        return "server_error" if error.status >= 500 else "error"
    return "error"


@dataclass
class DispatchStats:
    submitted: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    in_flight: int = 0
    credits: Decimal = field(default_factory=Decimal)
    stopped_by_budget: bool = False
    # Why no more runs were started before the jobs ran out: "budget", "out of credits",
    # "bad price", "price unknown", "refused", "failure" (fail_fast), "stopped" (stop()).
    stopped_because: str | None = None
    # Glifs a run of which cost more than was reserved for it: under a budget they run one at a
    # time from then on.
    one_at_a_time: set[str] = field(default_factory=set)

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.rejected


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
        self.max_credits = max_credits
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
        # The budget: the highest nonzero price seen per glif, what the runs in flight may cost,
        # how many runs of a glif whose price is not known yet are in flight (at most one), the
        # glifs whose price once passed what was reserved for it (one run at a time from then
        # on), and the runs in flight per glif.
        self._prices: dict[str, Decimal] = {}
        self._reserved = Decimal(0)
        self._unpriced = 0
        self._flying: dict[str, int] = {}
        self._changed: anyio.Event | None = None  # made on entry: it belongs to the event loop

    def stop(self, because: str = "stopped") -> None:
        """Start no more runs; those in flight finish and their results still come out."""
        if not self._stopping:
            self.stats.stopped_because = because
        self._stopping = True
        self._signal()

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = anyio.Event()

    async def __aenter__(self) -> Dispatch[K]:
        if self.check_credits:
            me = await self.client.me()
            remaining = me.credits.remaining if me.credits else None
            if remaining is not None:
                if remaining <= 0:
                    raise ValueError(f"no credits left ({remaining:g}): nothing was run")
                left = remaining
                self.max_credits = left if self.max_credits is None else min(self.max_credits, left)
        self._changed = anyio.Event()
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
                reserved = await self._reserve(job.glif_id)
                if reserved is None:
                    slots.release()
                    break
                if self._before_submit is not None:
                    await self._before_submit(job, key)
                self.stats.submitted += 1
                self.stats.in_flight += 1
                runs.start_soon(self._run, job, key, slots, reserved)

    async def _reserve(self, glif_id: str) -> tuple[Decimal, bool] | None:
        """Reserve what the run may cost, waiting for runs in flight if need be; None: stop.

        The reservation is the highest nonzero price seen for the glif. Until one is known
        (a price of 0 says nothing about the next run's), only one unpriced run is in flight, so
        spending passes the budget by one run's price at most. A glif whose price once passed
        its reservation runs one at a time: only the runs in flight then could overshoot.
        """
        if self.max_credits is None:
            return Decimal(0), False
        while not self._stopping:
            s = self.stats
            committed = s.credits + self._reserved
            price = self._prices.get(glif_id)
            if price is None:
                if self._unpriced == 0 and committed < self.max_credits:
                    self._unpriced += 1
                    self._flying[glif_id] = self._flying.get(glif_id, 0) + 1
                    return Decimal(0), True
            elif committed + price <= self.max_credits and not (
                glif_id in self.stats.one_at_a_time and self._flying.get(glif_id, 0)
            ):
                self._reserved += price
                self._flying[glif_id] = self._flying.get(glif_id, 0) + 1
                return price, False
            if s.in_flight == 0:  # nothing will free a reservation: the budget is reached
                s.stopped_by_budget = True
                self.stop("budget")
                return None
            assert self._changed is not None
            await self._changed.wait()
        return None

    async def _run(self, job: Job[K], key: K, slots: anyio.Semaphore, reserved: tuple[Decimal, bool]) -> None:
        start = time.perf_counter()
        result: RunResult | None = None
        error: GlifError | None = None
        raw: bytes | None = None
        try:
            result, raw = await self.client._run_glif(
                job.glif_id, job.inputs, visibility=job.visibility, strict=self.strict
            )
        except (RunFailedError, ResponseDecodeError) as exc:
            error, raw = exc, exc.body
            result = exc.result if isinstance(exc, RunFailedError) else None
        except GlifError as exc:
            error = exc
        finally:
            # Spent and released in one step (no await between): the budget never sees a gap.
            self.stats.in_flight -= 1
            self._reserved -= reserved[0]
            self._unpriced -= reserved[1]
            if self.max_credits is not None:  # counted only under a budget (see _reserve)
                self._flying[job.glif_id] -= 1
            slots.release()
            error = self._account(job, result, error, reserved)
            self._signal()
        done = JobResult(job, key, result, error, time.perf_counter() - start, raw)
        if error is None:
            self.stats.ok += 1
        else:
            self.stats.failed += 1
            if self.fail_fast:
                self._first_failure = self._first_failure or error
                self.stop("failure")
        await self._deliver(done)

    def _account(
        self, job: Job[K], result: RunResult | None, error: GlifError | None, reserved: tuple[Decimal, bool]
    ) -> GlifError | None:
        """Count what the run cost; returns the job's error (a price that makes no sense is one)."""
        price = result.price if result is not None else None
        if price is not None and (not price.is_finite() or price < 0):
            self.stop("bad price")
            return error or PriceError(f"the run's price is {str(price)!r}, not a finite number >= 0")
        if price is None and isinstance(error, ResponseDecodeError) and (said := _said_price(error.body)):
            self.stop("bad price")
            return PriceError(f"the run's price is {said}, not a finite number >= 0")
        if price is not None:
            self.stats.credits += price
            if price > 0:
                known = self._prices.get(job.glif_id)
                self._prices[job.glif_id] = price if known is None else max(known, price)
                if price > reserved[0] and not reserved[1]:
                    # More than its glif's price had been: the reservations of its runs in flight
                    # may be short too, so none starts beside another from now on.
                    self.stats.one_at_a_time.add(job.glif_id)
        elif self.max_credits is not None and (error is None or isinstance(error, ResponseDecodeError)):
            # It ran, and nobody can say what it cost: the budget cannot be kept any more.
            self.stop("price unknown")
        if error_kind(error) == "out_of_credits":
            self.stop("out of credits")
        elif isinstance(error, (AuthenticationError, PermissionDeniedError)):
            self.stop("refused")
        return error

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


def _said_price(body: bytes | None) -> str | None:
    """The ``price`` of an answer that did not decode, shown, when it is there and no number."""
    if not body:
        return None
    try:
        said = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(said, dict) or "price" not in said or said["price"] is None:
        return None
    price = said["price"]
    try:
        number = (
            Decimal(str(price))
            if isinstance(price, (int, float, str)) and not isinstance(price, bool)
            else None
        )
        if number is not None and number.is_finite() and number >= 0:
            return None
    except ArithmeticError:
        pass
    return repr(price)[:80]


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
    budget: Decimal | None = None
    if max_credits is not None:
        try:
            budget = None if isinstance(max_credits, bool) else Decimal(str(max_credits).strip())
        except ArithmeticError:  # decimal.InvalidOperation: not a number at all
            budget = None
        if budget is None or not budget.is_finite() or budget <= 0:
            raise ValueError(f"max_credits must be a finite number greater than 0, got {max_credits!r}")
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
