"""Retry rules in one place: the RetryPolicy decides whether a failure is tried again and how
long to wait first. (The session-wide 429 pause and the token bucket are in ``_limits``,
``Retry-After`` parsing beside the errors that carry it, in ``_errors``.)
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from ._errors import APIConnectionError, APIStatusError, APITimeoutError
from ._validate import at_least

__all__ = ["DEFAULT_RETRY", "RetryPolicy"]

_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


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

    max_attempts: int = attrs.field(default=5, validator=at_least(1))
    """Total tries, the first one included."""
    backoff_base: float = attrs.field(default=0.5, validator=at_least(0))
    """Seconds: the ceiling of the first backoff wait."""
    backoff_cap: float = attrs.field(default=30.0, validator=at_least(0))
    """Seconds: no single backoff wait exceeds this."""
    max_retry_after: float = attrs.field(default=60.0, validator=at_least(0))
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

    def delay_for(
        self, error: BaseException, attempt: int, rng: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before trying again after try ``attempt`` (1-based) failed with
        ``error``, or ``None`` to give up. Decides only: ``error`` is left as it is.

        A retryable status waits what its ``Retry-After`` asked for, else the backoff; a
        ``Retry-After`` beyond ``max_retry_after`` gives up at once (see :meth:`refused_wait`).
        Timeouts and connection errors retry as ``retry_timeouts`` and
        ``retry_connection_errors`` say; nothing else is retried.
        """
        if isinstance(error, APIStatusError):
            if error.status_code not in self.retry_statuses:
                return None
            retry_after = error.retry_after
            if retry_after is not None and retry_after > self.max_retry_after:
                return None
            if attempt >= self.max_attempts:
                return None
            return retry_after if retry_after is not None else self.backoff(attempt, rng)
        if isinstance(error, APITimeoutError):
            allowed = self.retry_timeouts
        elif isinstance(error, APIConnectionError):
            allowed = self.retry_connection_errors
        else:
            allowed = False
        if not allowed or attempt >= self.max_attempts:
            return None
        return self.backoff(attempt, rng)

    def refused_wait(self, error: BaseException) -> float | None:
        """The ``Retry-After`` wait of a retryable ``error`` that is longer than this policy
        honours (why :meth:`delay_for` gave up on it), else ``None``."""
        if not isinstance(error, APIStatusError) or error.status_code not in self.retry_statuses:
            return None
        retry_after = error.retry_after
        if retry_after is not None and retry_after > self.max_retry_after:
            return retry_after
        return None


DEFAULT_RETRY = RetryPolicy()
