"""A fake ICA for tests, demos and benchmarks.

:class:`FakeICA` is an ASGI application serving the five Project Workflow Session operations
and the token endpoints under ``/ica/rest`` from a seeded :class:`Dataset`, with ICA's paging,
auth, content negotiation and problem bodies, plus run-time :class:`Faults` and
:class:`Counters`. Use it in process through ``httpx.ASGITransport`` (:meth:`FakeICA.http_client`)
or over loopback TCP with :func:`serve` (async, asyncio or trio) / :func:`serve_in_thread`.
Needs the ``fake`` extra (starlette; uvicorn for TCP).

In process::

    fake = FakeICA(Dataset(seed=1, sessions=2000, analyses=3))
    async with fake.http_client() as client:  # httpx.ASGITransport, X-API-Key preset
        r = await client.post("/api/projects/demo-project/workflowSessions:search", json={})

Over TCP (asyncio or trio caller; uvicorn runs in a thread)::

    async with serve(fake) as url:  # "http://127.0.0.1:PORT/ica/rest"
        ...
    fake.faults.rate_429 = 0.1; fake.faults.push("drop", 503)
    assert fake.counters.by_route["searchWorkflowSessions"] == 1
"""

from __future__ import annotations

from ._advance import Advance
from ._app import DEFAULT_API_KEY, V3_JSON, FakeICA
from ._cli import fake_server_main
from ._dataset import V3_TO_V4, V4_STATUSES, V4_TO_V3, AnalysisRecord, Dataset, SessionRecord
from ._faults import Counters, Faults
from ._server import FakeServer, serve, serve_in_thread

__all__ = [
    "DEFAULT_API_KEY",
    "V3_JSON",
    "V3_TO_V4",
    "V4_STATUSES",
    "V4_TO_V3",
    "Advance",
    "AnalysisRecord",
    "Counters",
    "Dataset",
    "FakeICA",
    "FakeServer",
    "Faults",
    "SessionRecord",
    "fake_server_main",
    "serve",
    "serve_in_thread",
]
