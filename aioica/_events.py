"""Request events for metrics and tracing: what a ``Session(on_event=...)`` hook receives."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Literal

import attrs

from ._config import ConfigurationError

__all__ = ["EventHook", "EventKind", "RequestEvent", "check_hook", "emit"]

logger = logging.getLogger("aioica")

EventKind = Literal["request", "response", "error", "retry", "pause", "refused"]


@attrs.frozen(kw_only=True)
class RequestEvent:
    """One step of a call, as seen by an ``on_event`` hook.

    ``kind`` is one of:

    * ``"request"``: an attempt is about to be sent (limits and the 429 pause passed).
    * ``"response"``: the attempt got an HTTP response: ``status`` and ``elapsed`` are set;
      ``error`` too when the response is an error status or an unusable body.
    * ``"error"``: the attempt ended without a response: a connection error, a timeout, or
      cancellation (``error`` is the exception).
    * ``"retry"``: attempt ``attempt`` failed with ``error`` and the call tries again after
      ``wait`` seconds.
    * ``"pause"``: a 429 paused the whole session for ``wait`` seconds.
    * ``"refused"``: nothing was sent: the session-wide pause (``wait`` seconds left) is longer
      than the call's retry policy waits; the call raises ``error`` (a ``RateLimitError``).

    ``call`` numbers the calls of a session (every event of one call carries the same number)
    and ``attempt`` counts its tries from 1. ``path`` is the URL path only: no query string,
    no credentials.
    """

    kind: EventKind
    method: str
    path: str
    call: int
    attempt: int
    status: int | None = None
    elapsed: float | None = None
    """Seconds from the attempt's ``"request"`` event (``"response"`` and ``"error"``)."""
    wait: float | None = None
    """Seconds (``"retry"``, ``"pause"``, ``"refused"``)."""
    error: BaseException | None = attrs.field(default=None, repr=False)


EventHook = Callable[[RequestEvent], object]


def check_hook(hook: object) -> EventHook | None:
    """Validate ``on_event``: a plain callable (it is called synchronously)."""
    if hook is None:
        return None
    if not callable(hook):
        raise ConfigurationError(f"on_event must be a callable, got {type(hook).__name__}")
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
        getattr(hook, "__call__", None)  # noqa: B004
    ):
        raise ConfigurationError(
            "on_event must be a plain (non-async) function: it is called synchronously, in "
            "the task making the request; hand work to a queue if it must await"
        )
    return hook


def emit(hook: EventHook, event: RequestEvent) -> None:
    """Call ``hook``; an exception it raises is logged and ignored, never fails the request."""
    try:
        hook(event)
    except Exception:
        logger.warning("on_event hook raised on a %r event; ignored", event.kind, exc_info=True)
