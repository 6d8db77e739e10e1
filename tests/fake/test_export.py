"""Fan-out export and paginators against the fake ICA (in process): every item exactly once,
pipelining, bounds, early exit."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest

import aioica
from aioica.testing import Dataset, FakeICA

P = "demo-project"


class Recorder:
    """An ASGI wrapper that records the path of every request as it starts."""

    def __init__(self, fake: FakeICA) -> None:
        self.fake = fake
        self.paths: list[str] = []
        self.second = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
            if len(self.paths) == 2:
                self.second.set()
        await self.fake(scope, receive, send)


def recorded_session(fake: FakeICA, **kwargs: Any) -> tuple[aioica.Session, Recorder]:
    recorder = Recorder(fake)
    session = aioica.Session(
        auth=aioica.ApiKeyAuth(fake.api_key),
        base_url=fake.base_url,
        transport=httpx.ASGITransport(app=recorder),
        **kwargs,
    )
    return session, recorder


def expected(fake: FakeICA) -> dict[str, dict[str, Any]]:
    ds = fake.dataset
    out = {}
    for sid in ds.session_ids(P):
        record = ds.session(P, sid)
        assert record is not None
        out[sid] = {
            "analyses": ds.analysis_ids(P, sid),
            "inputs": aioica.from_dict(
                json.loads(ds.inputs_json(record)), aioica.WorkflowSessionInputList
            ).items,
            "configurations": aioica.from_dict(
                json.loads(ds.configurations_json(record)), aioica.WorkflowSessionConfigurationList
            ).items,
        }
    return out


@pytest.mark.anyio
async def test_export_every_record_exactly_once() -> None:
    fake = FakeICA(Dataset(seed=3, sessions=120, analyses=3))
    want = expected(fake)
    async with fake.session(max_concurrency=8) as ica:
        records = [r async for r in ica.export_workflow_sessions(P, page_size=7)]
    got_ids = [str(r.workflow_session.id) for r in records]
    assert sorted(got_ids) == sorted(want)
    assert len(got_ids) == len(set(got_ids))
    for record in records:
        sid = str(record.workflow_session.id)
        assert record.analyses is not None and record.inputs is not None
        assert [str(a.analysis.id) for a in record.analyses if a.analysis] == want[sid]["analyses"]
        assert record.inputs == want[sid]["inputs"]
        assert record.configurations == want[sid]["configurations"]
    assert sum(len(r.analyses or ()) for r in records) == sum(
        len(w["analyses"]) for w in want.values()
    )


@pytest.mark.anyio
async def test_export_ordered_keeps_listing_order_and_raw_records() -> None:
    fake = FakeICA(Dataset(seed=4, sessions=60, analyses=2))
    async with fake.session(max_concurrency=6) as ica:
        records = [
            r async for r in ica.export_workflow_sessions(P, ordered=True, page_size=9, raw=True)
        ]
    assert [r.workflow_session["id"] for r in records] == fake.dataset.session_ids(P)
    assert all(type(r) is aioica.RawExportRecord for r in records)
    assert all(isinstance(a, dict) for r in records for a in r.analyses or ())
    line = records[0].to_dict()
    assert set(line) == {"workflowSession", "inputs", "configurations", "analyses"}
    assert line["workflowSession"]["id"] == fake.dataset.session_ids(P)[0]
    json.dumps(line)


@pytest.mark.anyio
async def test_export_is_pipelined_and_bounded() -> None:
    fake = FakeICA(Dataset(seed=5, sessions=80, analyses=3))
    fake.faults.latency_ms = 2
    session, recorder = recorded_session(fake, max_concurrency=4)
    async with session as ica:
        n = 0
        async for _ in ica.export_workflow_sessions(P, page_size=10):
            n += 1
    assert n == 80
    listing = [i for i, p in enumerate(recorder.paths) if p.endswith("workflowSessions:search")]
    details = [i for i, p in enumerate(recorder.paths) if p.endswith("/inputs")]
    # Per-session requests started long before the listing's last page was asked for.
    assert details[0] < listing[-1]
    assert len(listing) == 8
    assert fake.counters.max_in_flight <= 4


@pytest.mark.anyio
async def test_export_include_subset_and_concurrency() -> None:
    fake = FakeICA(Dataset(seed=6, sessions=30, analyses=2))
    async with fake.session(max_concurrency=16) as ica:
        records = [
            r async for r in ica.export_workflow_sessions(P, include="analyses", concurrency=3)
        ]
    assert len(records) == 30
    assert all(r.inputs is None and r.configurations is None for r in records)
    assert fake.counters.by_route["getWorkflowSessionInputs"] == 0
    assert fake.counters.by_route["getWorkflowSessionConfigurations"] == 0
    assert fake.counters.max_in_flight <= 3 + 1  # three sessions in progress, plus the listing


@pytest.mark.anyio
async def test_export_early_exit_cancels_everything() -> None:
    fake = FakeICA(Dataset(seed=7, sessions=400, analyses=3))
    fake.faults.latency_ms = 20
    async with fake.session(max_concurrency=16) as ica:
        async with ica.export_workflow_sessions(P, page_size=50) as export:
            async for _ in export:
                if export.sessions_done == 3:
                    break
        await anyio.sleep(0.05)
        assert fake.counters.in_flight == 0
        seen = fake.counters.requests
        await anyio.sleep(0.1)
        assert fake.counters.requests == seen
    assert seen < 400


@pytest.mark.anyio
async def test_export_errors_and_validation() -> None:
    fake = FakeICA(Dataset(seed=8, sessions=5))
    async with fake.session(retry=aioica.RetryPolicy.none()) as ica:
        with pytest.raises(aioica.NotFoundError):
            async for _ in ica.export_workflow_sessions("no-such-project"):
                pass
        before = fake.counters.requests
        with pytest.raises(aioica.InvalidParameterError, match="include"):
            ica.export_workflow_sessions(P, include=("inputs", "bogus"))
        with pytest.raises(aioica.InvalidParameterError, match="concurrency"):
            ica.export_workflow_sessions(P, concurrency=0)
        with pytest.raises(aioica.InvalidParameterError, match="project_id"):
            ica.export_workflow_sessions("..")
        assert fake.counters.requests == before


@pytest.mark.parametrize("op", ["search", "get"])
@pytest.mark.anyio
async def test_paginators_against_the_fake(op: str) -> None:
    fake = FakeICA(Dataset(seed=9, sessions=230, analyses=0))
    async with fake.session() as ica:
        call = ica.search_workflow_sessions if op == "search" else ica.get_workflow_sessions
        ids = [str(ws.id) async for ws in call(P, page_size=25)]
        assert ids == fake.dataset.session_ids(P)
        by_offset = [str(ws.id) async for ws in call(P, page_size=40, sort="userReference desc")]
        assert sorted(by_offset) == sorted(ids) and len(by_offset) == 230
        refs = [ws.user_reference async for ws in call(P, page_size=40, sort="userReference desc")]
        assert refs == sorted(refs, reverse=True)


@pytest.mark.anyio
async def test_lookahead_observed_on_the_fake() -> None:
    fake = FakeICA(Dataset(seed=10, sessions=100, analyses=0))
    session, recorder = recorded_session(fake)
    async with session as ica:
        async with ica.search_workflow_sessions(P, page_size=10).pages() as pages:
            await pages.__anext__()
            with anyio.fail_after(5):
                await recorder.second.wait()
            await anyio.sleep(0.05)
            # Page 2 was requested without being asked for; page 3 was not (prefetch=1).
            assert len(recorder.paths) == 2


@pytest.mark.anyio
async def test_orchestrated_analyses_stream_for_many_sessions() -> None:
    fake = FakeICA(Dataset(seed=11, sessions=40, analyses=4))
    ds = fake.dataset
    async with fake.session(max_concurrency=8) as ica:
        results: dict[str, list[str]] = {}

        async def one(sid: str) -> None:
            results[sid] = [
                str(a.analysis.id)
                async for a in ica.search_orchestrated_analyses(P, sid, page_size=2)
                if a.analysis is not None
            ]

        async with anyio.create_task_group() as tg:
            for sid in ds.session_ids(P):
                tg.start_soon(one, sid)
    assert results == {sid: ds.analysis_ids(P, sid) for sid in ds.session_ids(P)}
