"""The fake ICA's injected faults: latency is applied by the app; this picks and plays the
rest (429s, 5xx and HTML pages, hangs, dropped and truncated connections)."""

from __future__ import annotations

import collections
import random
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx

from ._faults import Counters, Faults
from ._wire import V3, Problem, Receive, Scope, Send, send_body, send_problem

__all__ = ["Injector"]

_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}


class Injector:
    """The fault side of :class:`~aioica.testing.FakeICA` (a mixin)."""

    faults: Faults
    counters: Counters
    closing: bool
    clock: Callable[[], float]
    _rng: random.Random
    _budget: collections.deque[float]

    def _pick_fault(self, now: float) -> int | str | None:
        f = self.faults
        if f.script:
            action = f.script.popleft()
            return None if action == "ok" else action
        total = f.rate_hang + f.rate_drop + f.rate_truncate + f.rate_5xx + f.rate_429
        if total > 0:
            r = self._rng.random()
            for rate, action in (
                (f.rate_hang, "hang"),
                (f.rate_drop, "drop"),
                (f.rate_truncate, "truncate"),
                (f.rate_5xx, "5xx"),
                (f.rate_429, 429),
            ):
                if r < rate:
                    if action == "5xx":
                        status = f.statuses_5xx[self._rng.randrange(len(f.statuses_5xx))]
                        return "html" if self._rng.random() < f.html_fraction else status
                    return action
                r -= rate
        if f.budget_per_second is not None:
            window = self._budget
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= f.budget_per_second:
                return "budget"
            window.append(now)
        return None

    async def _inject(
        self, action: int | str, scope: Scope, receive: Receive, send: Send, transport: Any
    ) -> None:
        c = self.counters
        c.faults[str(action)] += 1
        if action in (429, "budget"):
            c.throttle_times.append(time.monotonic())
            lo, hi = self.faults.retry_after
            seconds = 1 if action == "budget" else self._rng.randint(lo, max(lo, hi))
            problem = Problem(
                429, "Too many requests", headers=[(b"retry-after", str(seconds).encode())]
            )
            await send_problem(scope, send, problem, self.clock)
        elif action == "html" or (isinstance(action, int) and action >= 500):
            status = 502 if action == "html" else int(action)
            if action == "html":
                body = _HTML.format(code=status, reason=_REASONS.get(status, "Error")).encode()
                await send_body(send, status, body, b"text/html")
            else:
                await send_problem(
                    scope, send, Problem(status, "Injected server error"), self.clock
                )
        elif isinstance(action, int):
            await send_problem(scope, send, Problem(action, "Injected error"), self.clock)
        elif action == "hang":
            with anyio.move_on_after(self.faults.hang_seconds):
                while not self.closing:
                    with anyio.move_on_after(0.1):
                        if (await receive())["type"] == "http.disconnect":
                            return
        elif action == "drop":
            if transport is None:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            transport.abort()
            await _await_disconnect(receive)
        elif action == "truncate":
            body = b'{"items":[{"id":"'
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", V3), (b"content-length", b"4096")],
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": True})
            if transport is None:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            transport.abort()
            await _await_disconnect(receive)


async def _await_disconnect(receive: Receive) -> None:
    # After an abort the server notices the lost connection on its next loop iteration; waiting
    # for it keeps the server from answering on a dead connection.
    with anyio.move_on_after(2):
        while (await receive())["type"] != "http.disconnect":
            pass
