"""The seam between a :class:`~aioica.Session` and the code built on it.

Iterators, the export and the mirror get an :class:`Engine`: the operations, a way to start a
producer task whose lifetime the session owns, and the session's limits. They never see the
Session itself, so they cannot reach into its private request path, and nothing below the
Session imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import attrs

from ._background import StartProducer
from ._operations import Operations

__all__ = ["Engine", "EngineSource", "engine_of"]


@attrs.frozen(eq=False, repr=False)
class Engine:
    """What code built on a session may use of it."""

    operations: Operations
    """The five operations (their public signatures, validation included)."""
    start_producer: StartProducer
    """Run an iterator's producer in a task the session cancels when it closes."""
    max_concurrency: int
    """The session-wide bound on requests in flight."""
    sent: Callable[[], int]
    """How many HTTP requests the session has sent so far."""

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent by the session so far (retries and redirects included)."""
        return self.sent()


class EngineSource(Protocol):
    """Something that owns an engine: a :class:`~aioica.Session`."""

    @property
    def _engine(self) -> Engine: ...


def engine_of(source: Engine | EngineSource) -> Engine:
    """``source`` itself if it is an engine, else the engine it owns (a Session's)."""
    return source if isinstance(source, Engine) else source._engine
