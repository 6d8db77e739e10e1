"""Fault-injection knobs and request counters of a :class:`~aioica.testing.FakeICA`."""

from __future__ import annotations

import collections
from collections.abc import Iterable

import attrs

__all__ = ["FAULT_ACTIONS", "Counters", "Faults"]

#: What a scripted fault (``Faults.script``) may be: an HTTP status (429, 5xx) or one of these.
FAULT_ACTIONS = frozenset({"drop", "truncate", "hang", "html", "ok"})


@attrs.define(slots=False)
class Faults:
    """Mutable fault knobs; change them at any time, the next request sees the new values.

    Rates are probabilities per request, drawn from one ``random.Random(seed)`` per fake, so a
    run is reproducible when requests arrive in the same order. ``script`` is applied first:
    each request pops one action (``429``, ``500``/``502``/``503``, ``"html"`` for an HTML 502,
    ``"drop"``, ``"truncate"``, ``"hang"``, ``"ok"`` to let one through). Faults skip
    ``/api/tokens`` and ``/api/tokens:refresh`` unless ``apply_to_tokens`` is true, and
    ``routes`` (operation ids) restricts them to some operations.

    - ``latency_ms`` + up to ``jitter_ms``: delay before every (fault-eligible) answer.
    - ``rate_429``: 429 problem with ``Retry-After`` = whole seconds drawn from ``retry_after``
      (inclusive ``(min, max)``; ``(0, 0)`` sends ``0``).
    - ``rate_5xx``: one of ``statuses_5xx``; ``html_fraction`` of them as a load balancer's
      HTML 502 page instead of a problem body.
    - ``rate_drop`` / ``rate_truncate``: connection closed before any response / mid-body.
    - ``rate_hang``: no answer until the client gives up, ``hang_seconds`` pass or the server
      stops.
    - ``budget_per_second``: at most that many requests in any one-second window, the rest get
      429 with ``Retry-After: 1``.
    - ``failing_sessions``: workflow session id -> action (an HTTP status or one of the actions
      above); every request for that session's inputs, configurations or analyses gets it,
      always, whatever ``routes`` says (see :meth:`fail_session`). The listing is unaffected.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_429: float = 0.0
    retry_after: tuple[int, int] = (1, 1)
    rate_5xx: float = 0.0
    statuses_5xx: tuple[int, ...] = (500, 502, 503)
    html_fraction: float = 0.5
    rate_drop: float = 0.0
    rate_truncate: float = 0.0
    rate_hang: float = 0.0
    hang_seconds: float = 300.0
    budget_per_second: float | None = None
    apply_to_tokens: bool = False
    routes: frozenset[str] | None = None
    script: collections.deque[int | str] = attrs.field(
        factory=collections.deque, converter=collections.deque
    )
    failing_sessions: dict[str, int | str] = attrs.field(factory=dict)
    seed: int = 0

    def fail_session(self, workflow_session_id: str, action: int | str = 500) -> None:
        """Make every request for one workflow session's details fail with ``action`` (a
        status such as 500 or 404, or ``"drop"``, ``"truncate"``, ``"hang"``, ``"html"``)."""
        if not isinstance(action, int) and (action not in FAULT_ACTIONS or action == "ok"):
            raise ValueError(f"unknown fault action {action!r}")
        self.failing_sessions[workflow_session_id] = action

    def push(self, *actions: int | str) -> None:
        """Queue scripted faults for the next requests, in order."""
        for action in actions:
            if not isinstance(action, int) and action not in FAULT_ACTIONS:
                raise ValueError(f"unknown fault action {action!r}")
        self.script.extend(actions)

    def clear(self) -> None:
        """Turn every fault off (latency, rates, budget, script)."""
        fresh = Faults(seed=self.seed)
        for field in attrs.fields(Faults):
            if field.name != "seed":
                setattr(self, field.name, getattr(fresh, field.name))


def _counter() -> collections.Counter[str]:
    return collections.Counter()


def _int_counter() -> collections.Counter[int]:
    return collections.Counter()


def _times() -> collections.deque[float]:
    # Bounded so that long benchmark runs do not grow without limit.
    return collections.deque(maxlen=REQUEST_TIMES_KEPT)


#: How many request timestamps :attr:`Counters.request_times` keeps (the most recent ones).
REQUEST_TIMES_KEPT = 200_000


@attrs.define(slots=False)
class Counters:
    """What the fake saw. Times are ``time.monotonic()`` values of the serving process.

    ``by_route`` is keyed by operation id (``searchWorkflowSessions``, ``createJwtToken``, ...,
    ``unknown``); ``faults`` by injected fault kind (``429``, ``500``, ``drop``, ``truncate``,
    ``hang``, ``budget``, ``latency``); ``connections`` holds the distinct client ``(host, port)``
    pairs (one per TCP connection; empty in process).
    """

    requests: int = 0
    by_route: collections.Counter[str] = attrs.field(factory=_counter)
    by_status: collections.Counter[int] = attrs.field(factory=_int_counter)
    faults: collections.Counter[str] = attrs.field(factory=_counter)
    in_flight: int = 0
    max_in_flight: int = 0
    tokens_minted: int = 0
    tokens_refreshed: int = 0
    connections: set[tuple[str, int]] = attrs.field(factory=set)
    request_times: collections.deque[float] = attrs.field(factory=_times)
    throttle_times: list[float] = attrs.field(factory=list)

    @property
    def connections_seen(self) -> int:
        """How many distinct TCP connections carried requests."""
        return len(self.connections)

    def requests_to(self, routes: Iterable[str]) -> int:
        """Total requests to the given operation ids."""
        return sum(self.by_route[r] for r in routes)

    def reset(self) -> None:
        """Zero everything (``in_flight`` keeps its live value)."""
        live = self.in_flight
        fresh = Counters()
        for field in attrs.fields(Counters):
            setattr(self, field.name, getattr(fresh, field.name))
        self.in_flight = live
