"""A gate in front of the fake server: let N more requests through, then hold the rest.

A test that must interrupt a client "in the middle" picks the middle by progress, not by time:
close the gate after N requests, wait until a request is held (the client can go no further),
then kill or interrupt it, then open the gate. From another process the same is done over
``POST /_fake/gate`` (``{"after": N}`` closes, ``{"after": null}`` opens) and
``GET /_fake/gate`` (``{"passed": ..., "held": ...}``).
"""

from __future__ import annotations

import asyncio

__all__ = ["Gate"]


class Gate:
    """Open by default. :meth:`close_after` holds every request after the next ``n``."""

    def __init__(self) -> None:
        self._left: int | None = None
        self._opened: asyncio.Event | None = None
        self.passed = 0  # requests let through since the gate was last closed
        self.held = 0  # requests waiting at the gate now
        self.arrived = 0  # requests that reached the gate, let through or held, since it was made
        self._holding: asyncio.Event | None = None

    def close_after(self, n: int) -> None:
        if n < 0:
            raise ValueError("the gate lets a non-negative number of requests through")
        self.open()  # whoever waits at the old gate goes on
        self._left, self.passed = n, 0
        self._opened = asyncio.Event()

    def open(self) -> None:
        if self._opened is not None:
            self._opened.set()
        self._left, self._opened = None, None

    async def passage(self) -> None:
        """Return at once while the gate lets requests through; else wait until it opens."""
        self.arrived += 1
        if self._left is None or self._opened is None:
            return
        if self._left > 0:
            self._left -= 1
            self.passed += 1
            return
        opened = self._opened
        self.held += 1
        if self._holding is not None:
            self._holding.set()
        try:
            await opened.wait()
        finally:
            self.held -= 1

    async def wait_held(self) -> None:
        """Return once a request waits at the gate: the client can go no further."""
        if self.held:
            return
        self._holding = asyncio.Event()
        await self._holding.wait()
        self._holding = None

    def state(self) -> dict[str, int | None]:
        return {"after": self._left, "passed": self.passed, "held": self.held}
