"""How the export fetches one session's parts: one after another when the session-wide limit is
saturated anyway (``concurrency >= max_concurrency``), together otherwise (issue #15)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import anyio
import httpx
import pytest

import aioica
from aioica.testing import Dataset, FakeICA

P = "demo-project"
_PART = re.compile(r"/workflowSessions/([^/]+)/(inputs|configurations|analyses)")


class Overlap:
    """Holds every per-session request for a moment and records how many overlap."""

    def __init__(self, fake: FakeICA, fail: tuple[str, str] | None = None) -> None:
        self.fake = fake
        self.fail = fail
        self.in_flight: dict[str, int] = defaultdict(int)
        self.most: dict[str, int] = defaultdict(int)
        self.sessions_at_once = 0
        self.parts: dict[str, list[str]] = defaultdict(list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = _PART.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.fake(scope, receive, send)
            return
        sid, part = match.groups()
        self.parts[sid].append(part)
        self.in_flight[sid] += 1
        self.most[sid] = max(self.most[sid], self.in_flight[sid])
        self.sessions_at_once = max(self.sessions_at_once, sum(map(bool, self.in_flight.values())))
        try:
            await anyio.sleep(0.01)
            if self.fail == (sid, part):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 404,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"detail": "gone"}'})
                return
            await self.fake(scope, receive, send)
        finally:
            self.in_flight[sid] -= 1


def _session(fake: FakeICA, app: Any, max_concurrency: int) -> aioica.Session:
    return aioica.Session(
        auth=aioica.ApiKeyAuth(fake.api_key),
        base_url=fake.base_url,
        transport=httpx.ASGITransport(app=app),
        max_concurrency=max_concurrency,
    )


@pytest.mark.parametrize("concurrency", [None, 4, 9])
@pytest.mark.anyio
async def test_parts_in_sequence_when_the_limit_is_saturated(concurrency: int | None) -> None:
    fake = FakeICA(Dataset(seed=41, sessions=12, analyses=2))
    app = Overlap(fake)
    async with _session(fake, app, max_concurrency=4) as ica:
        export = ica.export_workflow_sessions(P, concurrency=concurrency, page_size=5)
        records = [r async for r in export]
    assert len(records) == 12
    for record in records:
        assert record.error is None
        assert record.inputs is not None and record.configurations is not None
        assert record.analyses is not None
        sid = str(record.workflow_session.id)
        assert len(record.analyses) == len(fake.dataset.analysis_ids(P, sid))
    assert set(app.most.values()) == {1}, "a session's parts overlapped"
    # Sessions still run side by side: the session-wide limit is what bounds the requests.
    assert app.sessions_at_once == 4
    for parts in app.parts.values():
        assert parts == ["inputs", "configurations", "analyses"]


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.anyio
async def test_parts_together_when_fewer_sessions_than_the_limit(concurrency: int) -> None:
    fake = FakeICA(Dataset(seed=42, sessions=6, analyses=2))
    app = Overlap(fake)
    async with _session(fake, app, max_concurrency=4) as ica:
        export = ica.export_workflow_sessions(P, concurrency=concurrency, raw=True)
        records = [r async for r in export]
    assert len(records) == 6 and all(r.error is None for r in records)
    # Each session's three requests go out at once (one round trip, not three).
    assert max(app.most.values()) >= 2
    if concurrency == 1:
        assert set(app.most.values()) == {3}


@pytest.mark.anyio
async def test_failed_part_ends_the_session_with_the_parts_before_it() -> None:
    fake = FakeICA(Dataset(seed=43, sessions=5, analyses=1))
    bad = fake.dataset.session_ids(P)[1]
    app = Overlap(fake, fail=(bad, "configurations"))
    async with _session(fake, app, max_concurrency=4) as ica:
        export = ica.export_workflow_sessions(P, on_error="record", raw=True)
        records = [r async for r in export]
    (record,) = [r for r in records if r.error is not None]
    assert record.workflow_session["id"] == bad
    assert isinstance(record.error, aioica.NotFoundError)
    assert record.inputs is not None
    assert record.configurations is None and record.analyses is None
    # In sequence, the part after the failed one is never asked for.
    assert app.parts[bad] == ["inputs", "configurations"]
    assert export.sessions_done == 4 and export.sessions_failed == 1
