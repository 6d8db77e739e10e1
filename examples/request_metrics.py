"""Prometheus-style request metrics from a Session's ``on_event`` hook.

    python examples/request_metrics.py

Counts requests by method, route and status, retries by reason, 429 pauses, and observes
request durations, then prints them in Prometheus' text format. With ``prometheus_client``
installed the metrics are real Prometheus metrics (serve them with
``prometheus_client.start_http_server``); without it a few lines below stand in for it.

Routes are templated (``/api/projects/{id}/workflowSessions/{id}/inputs``) so that ids do not
explode the number of series.

With ICAV2_X_API_KEY (or ICAV2_ACCESS_TOKEN) and ICAV2_PROJECT_ID set, this talks to ICA;
without credentials it uses the embedded fake ICA, with some 429s and 503s thrown in.
"""

from __future__ import annotations

import collections
import os
import re
from typing import Any

import anyio

import aioica

_ID = re.compile(r"/(projects|workflowSessions)/[^/]+")


def route(path: str) -> str:
    """The path with its ids replaced: a low-cardinality label."""
    path = path.split("/ica/rest", 1)[-1]
    return _ID.sub(lambda m: f"/{m.group(1)}/{{id}}", path)


try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
except ImportError:  # a minimal stand-in with the same calls, for this example only
    CollectorRegistry = None  # type: ignore[assignment,misc]

    class _Metric:
        def __init__(self, name: str, doc: str, labels: tuple[str, ...] = (), **_: Any) -> None:
            self.name, self.doc, self.labels_names = name, doc, labels
            self.values: collections.Counter[tuple[str, ...]] = collections.Counter()
            self.counts: collections.Counter[tuple[str, ...]] = collections.Counter()
            self._key: tuple[str, ...] = ()

        def labels(self, *values: str) -> _Metric:
            child = self.__class__.__new__(self.__class__)
            child.__dict__ = {**self.__dict__, "_key": tuple(str(v) for v in values)}
            return child

        def inc(self, amount: float = 1) -> None:
            self.values[self._key] += amount  # type: ignore[assignment]

        def observe(self, value: float) -> None:
            self.values[self._key] += value  # type: ignore[assignment]
            self.counts[self._key] += 1

        def lines(self) -> list[str]:
            kind = "histogram" if self.counts else "counter"
            out = [f"# HELP {self.name} {self.doc}", f"# TYPE {self.name} {kind}"]
            for key, value in sorted(self.values.items()):
                pairs = ",".join(f'{n}="{v}"' for n, v in zip(self.labels_names, key, strict=True))
                labels = f"{{{pairs}}}" if pairs else ""
                if self.counts:
                    out.append(f"{self.name}_sum{labels} {value:.6f}")
                    out.append(f"{self.name}_count{labels} {self.counts[key]}")
                else:
                    out.append(f"{self.name}_total{labels} {value:g}")
            return out

    Counter = Histogram = _Metric  # type: ignore[assignment,misc]

    def generate_latest(registry: Any = None) -> bytes:  # type: ignore[misc]
        return ("\n".join(line for m in METRICS for line in m.lines()) + "\n").encode()


KW: dict[str, Any] = {"registry": CollectorRegistry()} if CollectorRegistry else {}
REQUESTS = Counter("aioica_requests", "HTTP requests to ICA", ("method", "route", "status"), **KW)
DURATION = Histogram(
    "aioica_request_duration_seconds", "HTTP request duration", ("method", "route"), **KW
)
RETRIES = Counter("aioica_retries", "Requests tried again", ("route", "reason"), **KW)
PAUSES = Counter("aioica_rate_limit_pauses", "Session-wide pauses after a 429", (), **KW)
METRICS = [REQUESTS, DURATION, RETRIES, PAUSES]


def on_event(event: aioica.RequestEvent) -> None:
    """The hook: one metric update per event (keep hooks this cheap; they run inline)."""
    where = route(event.path)
    if event.kind in ("response", "error"):
        status = str(event.status) if event.status is not None else "error"
        REQUESTS.labels(event.method, where, status).inc()
        if event.elapsed is not None:
            DURATION.labels(event.method, where).observe(event.elapsed)
    elif event.kind == "retry":
        reason = str(event.status) if event.status is not None else type(event.error).__name__
        RETRIES.labels(where, reason).inc()
    elif event.kind == "pause":
        PAUSES.inc()


async def main() -> None:
    if os.environ.get("ICAV2_X_API_KEY") or os.environ.get("ICAV2_ACCESS_TOKEN"):
        session = aioica.Session.from_env(on_event=on_event)
        project = os.environ["ICAV2_PROJECT_ID"]
    else:
        from aioica.testing import Dataset, FakeICA, Faults

        fake = FakeICA(
            Dataset(sessions=60, analyses=2),
            faults=Faults(rate_429=0.05, retry_after=(0, 0), rate_5xx=0.05),
        )
        print("(no ICA credentials in the environment: using a fake ICA in process)")
        session = fake.session(
            on_event=on_event, retry=aioica.RetryPolicy(backoff_base=0.01, max_attempts=8)
        )
        project = "demo-project"
    async with session as ica:
        records = [r async for r in ica.export_workflow_sessions(project)]
        print(f"exported {len(records)} workflow sessions with {ica.requests_sent} requests")
    print(generate_latest(KW.get("registry")).decode(), end="")


if __name__ == "__main__":
    anyio.run(main)
