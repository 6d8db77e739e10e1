"""Session-wide limits on starting requests: the pause after a 429, the token bucket and the
requests in flight."""

from __future__ import annotations

import collections
import math
from collections.abc import Callable

import anyio
import anyio.lowlevel

__all__ = ["PauseRefused", "RateGate", "Slots", "TokenBucket"]


class PauseRefused(Exception):
    """The session-wide pause lasts longer than the caller is willing to wait."""

    def __init__(self, remaining: float, cause: object) -> None:
        super().__init__(remaining)
        self.remaining = remaining
        #: What closed the gate (the 429 error).
        self.cause = cause


class RateGate:
    """Session-wide pause after a 429: no new request starts until the server's wait is over.

    Without it every in-flight request of a bulk export would hit the server again on its own
    schedule; with it one 429 holds the whole session (prefetch and fan-out included).
    """

    def __init__(self) -> None:
        self._until = 0.0
        self._cause: object = None

    def close_for(self, seconds: float, cause: object = None) -> None:
        """Hold new requests for ``seconds`` from now (extends, never shortens, a pause);
        ``cause`` is what asked for it (kept for callers that refuse to wait)."""
        until = anyio.current_time() + seconds
        if until >= self._until:
            self._until = until
            self._cause = cause

    @property
    def paused_until(self) -> float:
        """The ``anyio.current_time()`` at which requests may start again."""
        return self._until

    async def wait(self, deadline: float = math.inf) -> None:
        """Sleep until the gate is open (rechecking: another 429 may extend the pause).

        Raises :class:`PauseRefused` at once, without sleeping, when the pause lasts beyond
        ``deadline`` (an ``anyio.current_time()`` value). Not a checkpoint when the gate is
        open: it then returns at once, and without reading the clock if it was never closed.
        """
        if not self._until:
            return
        while True:
            now = anyio.current_time()
            delay = self._until - now
            if delay <= 0:
                return
            if self._until > deadline:
                raise PauseRefused(delay, self._cause)
            await anyio.sleep(delay)


class TokenBucket:
    """A token bucket: at most ``rate`` requests per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"rate_limit must be > 0 requests per second, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        self._tokens = self.burst
        self._stamp: float | None = None
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        """Wait for one token."""
        async with self._lock:
            while True:
                now = anyio.current_time()
                if self._stamp is None:
                    self._stamp = now
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await anyio.sleep((1 - self._tokens) / self.rate)


class Slots:
    """At most ``total`` holders at once; first come, first served.

    ``anyio.CapacityLimiter`` yields to the event loop on every acquisition, even with slots
    free (a shielded checkpoint: one more pass of the loop per request). A free slot here is
    taken without yielding: the request the slot is for is a checkpoint itself. Waiters are
    woken in order, and a slot handed to a waiter that is cancelled before it resumes is passed
    on, never lost.
    """

    __slots__ = ("_borrowed", "_new_event", "_total", "_waiters")

    def __init__(self, total: int) -> None:
        self._total = total
        self._borrowed = 0
        self._waiters: collections.deque[anyio.Event] = collections.deque()
        # The running backend's event class, found at the first wait: ``anyio.Event()`` looks
        # the backend up again on every call.
        self._new_event: Callable[[], anyio.Event] | None = None

    @property
    def borrowed(self) -> int:
        """Slots held now (a slot handed to a waiter counts from the hand-over)."""
        return self._borrowed

    async def acquire(self) -> None:
        """Take a slot, waiting for one if none is free (or others already wait)."""
        if self._borrowed < self._total and not self._waiters:
            self._borrowed += 1
            return
        new_event = self._new_event
        if new_event is None:
            new_event = self._new_event = anyio.lowlevel.current_token().backend_class.create_event
        event = new_event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                self.release()  # handed over just as this waiter was cancelled
            else:
                self._waiters.remove(event)
            raise

    def release(self) -> None:
        """Give a slot back: to the first waiter if any (it stays borrowed), else free it."""
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self._borrowed -= 1

    __aenter__ = acquire  # no extra coroutine per ``async with``

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()
