"""The budget of a batch: what each run in flight may cost, and when no more may start.

``max_credits`` is a hard budget: spending passes it by at most one run's price, as long as no
run costs more than the highest price its glif answered before that run started. Each run in
flight reserves that highest (nonzero) price, and a run starts only if what was spent plus what is
reserved plus its own reservation fits; until a glif has answered a price above 0, one run at a
time. A run that costs more than its reservation means the runs of its glif in flight may too:
none starts until they have answered, and that glif runs one at a time from then on. A price that
is not a finite number >= 0 makes that job fail (:class:`PriceError`) and stops all further
spending; so does a run with no price at all while a budget is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import anyio
import msgspec

from ._errors import GlifError, ResponseDecodeError
from ._jobs import DispatchStats, PriceError
from .models import RunResult


@dataclass(frozen=True)
class Reservation:
    """What one run in flight holds of the budget."""

    amount: Decimal = Decimal(0)
    unpriced: bool = False  # the one run of a glif whose price is not known yet


class Budget:
    """The reservations and prices of one batch (no budget at all when ``max_credits`` is None).

    ``stop(because)`` is the batch's own stop; ``stopping()`` says whether it was called. A
    waiting :meth:`reserve` wakes on :meth:`signal`, which the batch calls when a run ends or
    it stops.
    """

    def __init__(
        self,
        max_credits: Decimal | None,
        stats: DispatchStats,
        stop: Callable[[str], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.max_credits = max_credits
        self._stats = stats
        self._stop = stop
        self._stopping = stopping
        # The highest nonzero price seen per glif, what the runs in flight may cost, how many
        # runs of a glif whose price is not known yet are in flight (at most one), and the runs
        # in flight per glif.
        self._prices: dict[str, Decimal] = {}
        self._reserved = Decimal(0)
        self._unpriced = 0
        self._flying: dict[str, int] = {}
        self._changed: anyio.Event | None = None  # made by open(): it belongs to the event loop

    def open(self) -> None:
        self._changed = anyio.Event()

    def signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = anyio.Event()

    async def reserve(self, glif_id: str) -> Reservation | None:
        """Reserve what the run may cost, waiting for runs in flight if need be; None: stop.

        The reservation is the highest nonzero price seen for the glif. Until one is known
        (a price of 0 says nothing about the next run's), only one unpriced run is in flight, so
        spending passes the budget by one run's price at most. A glif whose price once passed
        its reservation runs one at a time: only the runs in flight then could overshoot.
        """
        if self.max_credits is None:
            return Reservation()
        while not self._stopping():
            s = self._stats
            committed = s.credits + self._reserved
            price = self._prices.get(glif_id)
            if price is None:
                if self._unpriced == 0 and committed < self.max_credits:
                    self._unpriced += 1
                    self._flying[glif_id] = self._flying.get(glif_id, 0) + 1
                    return Reservation(unpriced=True)
            elif committed + price <= self.max_credits and not (
                glif_id in s.one_at_a_time and self._flying.get(glif_id, 0)
            ):
                self._reserved += price
                self._flying[glif_id] = self._flying.get(glif_id, 0) + 1
                return Reservation(price)
            if s.in_flight == 0:  # nothing will free a reservation: the budget is reached
                s.stopped_by_budget = True
                self._stop("budget")
                return None
            assert self._changed is not None
            await self._changed.wait()
        return None

    def settle(
        self, glif_id: str, reservation: Reservation, result: RunResult | None, error: GlifError | None
    ) -> GlifError | None:
        """Release the run's reservation and count what it cost, in one step (no await: the
        budget never sees a gap); returns the job's error (a price that makes no sense is one)."""
        self._reserved -= reservation.amount
        self._unpriced -= reservation.unpriced
        if self.max_credits is not None:  # counted only under a budget (see reserve)
            self._flying[glif_id] -= 1
        price = result.price if result is not None else None
        if price is not None and (not price.is_finite() or price < 0):
            self._stop("bad price")
            return error or PriceError(f"the run's price is {str(price)!r}, not a finite number >= 0")
        if price is None and isinstance(error, ResponseDecodeError) and (said := _said_price(error.body)):
            self._stop("bad price")
            return PriceError(f"the run's price is {said}, not a finite number >= 0")
        if price is not None:
            self._stats.credits += price
            if price > 0:
                known = self._prices.get(glif_id)
                self._prices[glif_id] = price if known is None else max(known, price)
                if price > reservation.amount and not reservation.unpriced:
                    # More than its glif's price had been: the reservations of its runs in flight
                    # may be short too, so none starts beside another from now on.
                    self._stats.one_at_a_time.add(glif_id)
        elif self.max_credits is not None and (error is None or isinstance(error, ResponseDecodeError)):
            # It ran, and nobody can say what it cost: the budget cannot be kept any more.
            self._stop("price unknown")
        return error


def parse_budget(max_credits: Decimal | float | str | None) -> Decimal | None:
    """``max_credits`` as a Decimal, or a ValueError that names it."""
    if max_credits is None:
        return None
    budget: Decimal | None
    try:
        budget = None if isinstance(max_credits, bool) else Decimal(str(max_credits).strip())
    except ArithmeticError:  # decimal.InvalidOperation: not a number at all
        budget = None
    if budget is None or not budget.is_finite() or budget <= 0:
        raise ValueError(f"max_credits must be a finite number greater than 0, got {max_credits!r}")
    return budget


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
