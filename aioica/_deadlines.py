"""Whole-request deadlines on asyncio with one timer for all the requests in flight.

A timer per request (what anyio's ``CancelScope(deadline=...)`` and ``asyncio.timeout(delay)``
each schedule) costs a ``TimerHandle`` pushed onto the loop's heap and cancelled again a few
milliseconds later (a Python object, a heap push ordered by Python comparisons, and the
cancelled handle left in the heap until the loop prunes it). Deadlines that almost never fire do
not need that: each request here enters an ``asyncio.Timeout`` that has no time set, and one
timer, armed for the earliest deadline in flight, sets the time (``Timeout.reschedule``) of
every request still running past its deadline. From then on it is ``asyncio.timeout``'s own
cancellation: the request's task is cancelled, the ``CancelledError`` becomes a
``TimeoutError`` at the ``async with``, and a cancellation from elsewhere stays a cancellation.

asyncio 3.11+ only (``asyncio.Timeout``); trio and older Pythons keep anyio's cancel scope.
"""

from __future__ import annotations

import asyncio
import math
import sys
from typing import Any

__all__ = ["DeadlineWatch"]


class DeadlineWatch:
    """The deadlines of one session's requests, on the loop the session was opened in."""

    __slots__ = ("_armed_at", "_loop", "_pending", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Entered Timeouts (no time set yet) and the loop time each must be done by.
        self._pending: dict[Any, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = math.inf

    @staticmethod
    def for_library(library: str | None) -> DeadlineWatch | None:
        """A watch for the running asyncio loop (3.11+), else None."""
        if library != "asyncio" or sys.version_info < (3, 11):
            return None
        return DeadlineWatch(asyncio.get_running_loop())

    @staticmethod
    def expiry() -> Any:
        """A new ``asyncio.Timeout`` with no time set: enter it, then :meth:`add` it."""
        return asyncio.Timeout(None)  # type: ignore[attr-defined,unused-ignore]

    def add(self, expiry: Any, seconds: float) -> None:
        """Watch an entered ``expiry``: it fires ``seconds`` from now unless discarded first."""
        when = self._loop.time() + seconds
        self._pending[expiry] = when
        if when < self._armed_at:
            self._arm(when)

    def discard(self, expiry: Any) -> None:
        """Stop watching ``expiry`` (its request is done, one way or another)."""
        self._pending.pop(expiry, None)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._check)
        self._armed_at = when

    def _check(self) -> None:
        self._timer = None
        self._armed_at = math.inf
        now = self._loop.time()
        overdue = [(e, when) for e, when in self._pending.items() if when <= now]
        for expiry, when in overdue:
            del self._pending[expiry]
            # A time in the past: asyncio cancels the request's task on the next pass.
            expiry.reschedule(when)
        if self._pending:
            self._arm(min(self._pending.values()))
