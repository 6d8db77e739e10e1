"""Retry rules in one place: the RetryPolicy value object, Retry-After parsing, the 429 gate and
the optional token-bucket rate limit shared by a session.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable

import anyio
import attrs

__all__ = [
    "DEFAULT_RETRY",
    "PauseRefused",
    "RateGate",
    "RetryPolicy",
    "TokenBucket",
    "parse_retry_after",
]

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how a failed request is tried again.

    Attempts back off exponentially with full jitter: the n-th wait is drawn uniformly from
    ``[0, min(backoff_cap, backoff_base * 2**(n-1))]``. A ``Retry-After`` header replaces that
    wait when the server sends one, up to ``max_retry_after``; a longer requested wait fails at
    once with a :class:`~aioica.RateLimitError` saying how long the server asked for.

    All five operations are read-only (the two POSTs are ``:search`` queries), so by default
    every one of them is retried on connection errors, read timeouts and the statuses in
    ``retry_statuses``. ``RetryPolicy.none()`` disables retries.

    A 429 pauses the whole session. A call waits for that pause at most ``max_retry_after``
    seconds, and not at all when its policy never retries (``max_attempts=1``, as in
    ``RetryPolicy.none()``): a latency-sensitive call fails fast instead of sleeping.
    """

    max_attempts: int = attrs.field(default=5, validator=_positive_int)
    """Total tries, the first one included."""
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative)
    """Seconds: the ceiling of the first backoff wait."""
    backoff_cap: float = attrs.field(default=30.0, validator=_non_negative)
    """Seconds: no single backoff wait exceeds this."""
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    """Seconds: the longest ``Retry-After`` honoured, and the longest a call waits for the
    session-wide pause that another request's 429 started (a longer pause fails the call at
    once with :class:`~aioica.RateLimitError`, nothing sent)."""
    retry_statuses: frozenset[int] = attrs.field(default=_RETRY_STATUSES, converter=frozenset)
    """HTTP statuses that are retried."""
    retry_connection_errors: bool = True
    """Retry when a connection could not be made or broke before a full response."""
    retry_timeouts: bool = True
    """Retry connect, read and pool timeouts."""

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    @property
    def max_pause_wait(self) -> float:
        """Seconds this policy lets a call wait for the session-wide 429 pause."""
        return 0.0 if self.max_attempts == 1 else self.max_retry_after

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The wait before try ``attempt + 1`` after try ``attempt`` (1-based) failed."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2.0 ** (attempt - 1)))
        return float(rng() * ceiling)


DEFAULT_RETRY = RetryPolicy()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date).

    Returns ``None`` when absent or unparsable; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


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
