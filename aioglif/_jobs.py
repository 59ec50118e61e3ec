"""A job of a batch and its end: what to run, what came of it, and the state that leaves it in.

Public through :mod:`aioglif.dispatch`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Generic, Literal

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
from .models import RunResult

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


class AbandonedError(GlifError):
    """The run was sent, then given up before its answer came (:meth:`Dispatch.stop` with a
    grace that ran out): it may have run and been paid for."""


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
    "abandoned",
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
    "abandoned": "unknown",  # sent; stopped waiting for it: it may have run
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
    if isinstance(error, AbandonedError):
        return "abandoned"
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
    abandoned: int = 0  # sent, then given up when the grace of a stop ran out: may be paid
    in_flight: int = 0
    credits: Decimal = field(default_factory=Decimal)
    stopped_by_budget: bool = False
    # Why no more runs were started before the jobs ran out: "budget", "out of credits",
    # "bad price", "price unknown", "refused", "failure" (fail_fast), "stopped" (stop(), or the
    # reason given to it).
    stopped_because: str | None = None
    # Glifs a run of which cost more than was reserved for it: under a budget they run one at a
    # time from then on.
    one_at_a_time: set[str] = field(default_factory=set)

    @property
    def done(self) -> int:
        return self.ok + self.failed + self.rejected + self.abandoned
