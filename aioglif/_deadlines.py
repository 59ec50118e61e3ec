"""One watchdog per wire for the deadlines of every request in flight.

aiohttp's own ``total`` and ``sock_read`` timeouts cost three timer operations per request (the
total timer, and the read timer set again on every chunk received): measured, about 8 µs of the
wire's 85 µs per small page. Here a request costs an entry in a dict (about 1 µs), and the wire
one timer for all of them: at the earliest total deadline, or a tick every eighth of the
shortest read timeout while a request in flight has one.

- The total deadline is exact (the event loop's clock, no rounding).
- The read timeout is judged from progress seen at the ticks: a request whose bytes received
  (as they came: aiohttp's ``StreamReader.total_raw_bytes``, compressed if they were, so that
  a gzip header or a block's code tables that decode to nothing yet are no silence) did not
  grow for ``read`` seconds of ticks has stalled. A tick is at most ``read/8`` after the last
  byte and the verdict at most ``read/8`` late, so a stall ends after between ``read`` and
  ``1.25 × read`` seconds of silence (plus the loop's own lateness). Before the answer's headers, silence
  counts from the start of the attempt (connecting included: the wire cannot see when the
  connection was made; the wire's own pool is as large as the requests in flight, so none
  waits for one; on a caller's session the wire leaves the read timeout to aiohttp). Waiting
  for the wire's turn to read a large answer is not silence.

An expired request's task is cancelled; the wire turns that cancellation back into a
:class:`~aioglif.TimeoutError` (:meth:`Watch.owns`), unless somebody else also cancelled the
task meanwhile: an anyio cancel scope around the request, cancelled or past its deadline (any
Python), or any cancellation counted by asyncio (3.11+; on 3.10 a bare ``task.cancel()`` at
the very moment of the deadline becomes the timeout, as with aiohttp's own timer there).
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any, Final, Protocol

import anyio

__all__ = ["Watch", "Watchdog"]

TOTAL: Final = "total"
READ: Final = "read"
_TICKS_PER_READ: Final = 8


class _Progress(Protocol):
    total_bytes: int  # aiohttp's StreamReader: bytes received (after decompression) so far


def _received(stream: _Progress) -> int:
    """The bytes of the body received so far, as they came (compressed, if they were)."""
    raw: int | None = getattr(stream, "total_raw_bytes", None)  # aiohttp too old: decompressed
    return stream.total_bytes if raw is None else raw


class Watch:
    """One request in flight: its deadlines and what the watchdog found."""

    __slots__ = ("_base", "deadline", "expired", "quiet_since", "read", "seen", "stream", "task")

    def __init__(self, task: asyncio.Task[Any], deadline: float, read: float | None, now: float) -> None:
        self.task = task
        self.deadline = deadline
        self.read = read  # None: no read timeout (or paused, see Watchdog.pause)
        self.quiet_since = now
        self.stream: _Progress | None = None  # set once the headers are in
        self.seen = -1
        self.expired: str | None = None  # TOTAL or READ once the watchdog cancelled the task
        # Cancellations the task had when the request began (3.11+): more at the end are not ours.
        self._base = 0
        if sys.version_info >= (3, 11):
            self._base = task.cancelling()

    def owns(self) -> bool:
        """Whether the task's cancellation was only the watchdog's (call once, on catching it).

        The watchdog's own cancellation is withdrawn here (3.11+). Somebody else's stays and is
        not ours to turn into a timeout: a cancellation counted since the request began
        (asyncio's, Ctrl-C; 3.11+), or a cancel scope around the request that is cancelled or
        past its deadline (:meth:`scope_due`).
        """
        if self.expired is None:
            return False
        if sys.version_info >= (3, 11) and self.task.uncancel() > self._base:
            return False
        return not self.scope_due()

    def scope_due(self) -> bool:
        """An anyio cancel scope around the request is cancelled, or past its deadline.

        anyio does not cancel a task that is being cancelled already (it tries again on the
        next turn of the loop), so its cancellation leaves no count to see.
        """
        return anyio.current_effective_deadline() <= self.task.get_loop().time()


class Watchdog:
    """The deadlines of one wire's requests in flight, behind one timer of the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._watches: dict[Watch, None] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._at = math.inf
        self._closed = False

    def add(self, total: float | None, read: float | None) -> Watch:
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a request is sent from a task")
        now = self._loop.time()
        watch = Watch(task, math.inf if total is None else now + total, read, now)
        self._watches[watch] = None
        at = watch.deadline if read is None else min(watch.deadline, now + read / _TICKS_PER_READ)
        if at < self._at:
            self._schedule(at)
        return watch

    def discard(self, watch: Watch) -> None:
        # The timer stays: with requests coming and going it would only be set again.
        self._watches.pop(watch, None)
        if self._closed and not self._watches:
            self._stop()

    def pause(self, watch: Watch) -> float | None:
        """Stop judging the request's silence (it waits for the wire, not the server)."""
        read, watch.read = watch.read, None
        return read

    def resume(self, watch: Watch, read: float | None) -> None:
        now = self._loop.time()
        watch.read, watch.quiet_since = read, now
        if read is not None and now + read / _TICKS_PER_READ < self._at:
            self._schedule(now + read / _TICKS_PER_READ)

    def _schedule(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_at(at, self._tick)
        self._at = at

    def close(self) -> None:
        """No timer left once no request is in flight. One still in flight (another task's, on a
        caller's session, which outlives the wire) keeps its deadlines: without them a silent
        server would hold it forever."""
        self._closed = True
        if not self._watches:
            self._stop()

    def _stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._at = None, math.inf

    def _tick(self) -> None:
        self._handle, self._at = None, math.inf
        now = self._loop.time()
        try:
            at = self._check(now)
        except BaseException:
            # Whatever went wrong with one request (said loudly), the others keep their deadlines.
            self._schedule(now + 1.0)
            raise
        if at < math.inf:
            self._schedule(at)

    def _check(self, now: float) -> float:
        """Expire what is due; return when to look again."""
        at = math.inf
        for watch in list(self._watches):
            if now >= watch.deadline:
                self._expire(watch, TOTAL)
                continue
            read = watch.read
            if read is not None:
                stream = watch.stream
                seen = -1 if stream is None else _received(stream)
                if seen != watch.seen:
                    watch.seen, watch.quiet_since = seen, now
                elif now - watch.quiet_since >= read:
                    self._expire(watch, READ)
                    continue
                at = min(at, now + read / _TICKS_PER_READ)
            at = min(at, watch.deadline)
        return at

    def _expire(self, watch: Watch, why: str) -> None:
        del self._watches[watch]
        watch.expired = why
        watch.task.cancel()
