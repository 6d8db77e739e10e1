"""Export that survives: ``skip=``, ``on_error=``, the internal ``select`` hook, unusable listing
items and the per-session analyses cap (issues #13 and #11)."""

from __future__ import annotations

import gc
import json
import tracemalloc
import uuid
import weakref
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

import aioica
from aioica.testing import Dataset, FakeICA

P = "demo-project"
FAST = aioica.RetryPolicy(max_attempts=3, backoff_base=0, backoff_cap=0)
ROUTES = {
    "getWorkflowSessionInputs": "inputs",
    "getWorkflowSessionConfigurations": "configurations",
    "searchOrchestratedAnalyses": "analyses",
}


def sid_of(record: aioica.ExportRecord) -> str:
    ws: Any = record.workflow_session
    return str(ws["id"] if isinstance(ws, dict) else ws.id)


def analysis_ids(record: aioica.ExportRecord) -> list[str]:
    out = []
    for a in record.analyses or ():
        out.append(a["analysis"]["id"] if isinstance(a, dict) else str(a.analysis.id))  # type: ignore[union-attr]
    return out


# -- skip -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ordered", "raw", "include", "concurrency"),
    [
        (False, False, ("inputs", "configurations", "analyses"), None),
        (True, True, ("inputs", "configurations", "analyses"), 3),
        (True, False, ("analyses",), 1),
        (False, True, (), 5),
    ],
)
@pytest.mark.anyio
async def test_skip_leaves_out_sessions_and_their_requests(
    ordered: bool, raw: bool, include: tuple[str, ...], concurrency: int | None
) -> None:
    fake = FakeICA(Dataset(seed=21, sessions=40, analyses=3))
    ids = fake.dataset.session_ids(P)
    skip: list[Any] = list(ids[::2])
    # Any spelling of a UUID matches: upper case, a uuid.UUID object.
    skip[0] = skip[0].upper()
    skip[1] = uuid.UUID(skip[1])
    wanted = ids[1::2]
    async with fake.session(max_concurrency=8) as ica:
        async with ica.export_workflow_sessions(
            P,
            include=include,
            concurrency=concurrency,
            ordered=ordered,
            raw=raw,
            page_size=7,
            skip=skip,
        ) as export:
            records = [r async for r in export]
        assert export.sessions_skipped == 20
        assert export.sessions_done == 20
        assert export.sessions_failed == 0
    got = [sid_of(r) for r in records]
    assert sorted(got) == sorted(wanted)
    if ordered:
        assert got == wanted
    for record in records:
        assert record.error is None
        if "analyses" in include:
            assert analysis_ids(record) == fake.dataset.analysis_ids(P, sid_of(record))
    # Not one request for a skipped session: each per-session route saw exactly the 20 others.
    for route, part in ROUTES.items():
        assert fake.counters.by_route[route] == (20 if part in include else 0), route


@pytest.mark.anyio
async def test_skip_everything_fetches_only_the_listing() -> None:
    fake = FakeICA(Dataset(seed=22, sessions=30, analyses=2))
    async with fake.session() as ica:
        export = ica.export_workflow_sessions(P, skip=fake.dataset.session_ids(P), page_size=10)
        assert [r async for r in export] == []
        assert export.sessions_skipped == 30
    assert fake.counters.requests == fake.counters.by_route["searchWorkflowSessions"] == 3


# -- on_error ---------------------------------------------------------------------------------


@pytest.mark.parametrize("ordered", [False, True])
@pytest.mark.anyio
async def test_on_error_record_yields_one_error_record_and_everything_else(
    ordered: bool,
) -> None:
    fake = FakeICA(Dataset(seed=23, sessions=30, analyses=2))
    ids = fake.dataset.session_ids(P)
    bad = ids[11]
    fake.faults.fail_session(bad, 503)
    async with fake.session(retry=FAST, max_concurrency=6) as ica:
        export = ica.export_workflow_sessions(P, on_error="record", ordered=ordered, page_size=8)
        records = [r async for r in export]
        assert (export.sessions_done, export.sessions_failed) == (29, 1)
    assert sorted(sid_of(r) for r in records) == sorted(ids)
    if ordered:
        assert [sid_of(r) for r in records] == ids
    failed = [r for r in records if r.error is not None]
    assert len(failed) == 1
    (record,) = failed
    assert sid_of(record) == bad
    assert isinstance(record.error, aioica.ServerError)
    assert record.error.status_code == 503
    assert record.error.attempts == 3  # retried first, then recorded
    for good in records:
        if good is not record:
            assert analysis_ids(good) == fake.dataset.analysis_ids(P, sid_of(good))
    line = record.to_dict()
    assert line["error"]["type"] == "ServerError"
    assert "503" in line["error"]["message"]
    json.dumps(line)
    assert "error" not in records[0 if records[0] is not record else 1].to_dict()


@pytest.mark.anyio
async def test_on_error_raise_is_the_default() -> None:
    fake = FakeICA(Dataset(seed=23, sessions=30, analyses=2))
    fake.faults.fail_session(fake.dataset.session_ids(P)[5], 404)
    async with fake.session(retry=FAST) as ica:
        with pytest.raises(aioica.NotFoundError):
            async for _ in ica.export_workflow_sessions(P):
                pass


class FailAnalysesLate:
    """Passes everything to the fake, except one session's analyses: 404 after a delay (so its
    inputs and configurations arrive first)."""

    def __init__(self, fake: FakeICA, sid: str) -> None:
        self.fake = fake
        self.sid = sid

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith(f"/{self.sid}/analyses:search"):
            await anyio.sleep(0.05)
            body = b'{"status":404,"title":"ICA_API_005","detail":"gone"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/problem+json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.fake(scope, receive, send)


@pytest.mark.anyio
async def test_error_record_keeps_the_parts_fetched() -> None:
    fake = FakeICA(Dataset(seed=24, sessions=6, analyses=2))
    bad = fake.dataset.session_ids(P)[2]
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(fake.api_key),
        base_url=fake.base_url,
        transport=httpx.ASGITransport(app=FailAnalysesLate(fake, bad)),
    ) as ica:
        records = [r async for r in ica.export_workflow_sessions(P, on_error="record", raw=True)]
    (record,) = [r for r in records if r.error is not None]
    assert sid_of(record) == bad
    assert isinstance(record.error, aioica.NotFoundError)
    assert record.analyses is None
    assert record.inputs is not None and record.configurations is not None
    assert set(record.to_dict()) == {"workflowSession", "inputs", "configurations", "error"}


@pytest.mark.anyio
async def test_refused_credentials_end_the_export_even_when_recording() -> None:
    fake = FakeICA(Dataset(seed=25, sessions=20, analyses=1))
    fake.faults.fail_session(fake.dataset.session_ids(P)[3], 401)
    async with fake.session(retry=FAST) as ica:
        with pytest.raises(aioica.AuthenticationError):
            async for _ in ica.export_workflow_sessions(P, on_error="record"):
                pass


@pytest.mark.anyio
async def test_listing_errors_end_the_export_even_when_recording() -> None:
    fake = FakeICA(Dataset(seed=25, sessions=20, analyses=1))
    async with fake.session(retry=FAST) as ica:
        with pytest.raises(aioica.NotFoundError):
            async for _ in ica.export_workflow_sessions("no-such-project", on_error="record"):
                pass


# -- the select hook --------------------------------------------------------------------------


class Recorder:
    def __init__(self, fake: FakeICA) -> None:
        self.fake = fake
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.fake(scope, receive, send)


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.anyio
async def test_select_is_called_once_per_item_in_order_before_any_request(raw: bool) -> None:
    fake = FakeICA(Dataset(seed=26, sessions=45, analyses=2))
    ids = fake.dataset.session_ids(P)
    recorder = Recorder(fake)
    seen: list[Any] = []

    def select(item: Any) -> bool:
        sid = item["id"] if raw else str(item.id)
        assert isinstance(item, dict) if raw else isinstance(item, aioica.WorkflowSessionV4)
        assert not any(f"/{sid}/" in p for p in recorder.paths), "requested before select"
        seen.append(sid)
        return len(seen) % 3 != 0

    async with aioica.Session(
        auth=aioica.ApiKeyAuth(fake.api_key),
        base_url=fake.base_url,
        transport=httpx.ASGITransport(app=recorder),
        max_concurrency=4,
    ) as ica:
        export = ica.export_workflow_sessions(
            P, raw=raw, page_size=10, skip=ids[:5], _select=select
        )
        records = [r async for r in export]
        assert export.sessions_skipped == 5 + 40 // 3
    # `skip` first: the hook never sees the skipped ids; then every other item once, in order.
    assert seen == ids[5:]
    kept = [sid for i, sid in enumerate(ids[5:], 1) if i % 3 != 0]
    assert sorted(sid_of(r) for r in records) == sorted(kept)
    requested = {p.split("/")[-2] for p in recorder.paths if p.endswith("/inputs")}
    assert requested == set(kept)


@pytest.mark.anyio
async def test_select_reachable_from_the_export_constructor() -> None:
    fake = FakeICA(Dataset(seed=27, sessions=10, analyses=1))
    async with fake.session() as ica:
        export = aioica.Export(
            ica,
            P,
            analysis_query_parameters=None,
            include=("inputs",),
            concurrency=None,
            ordered=True,
            page_size=None,
            retry=None,
            select=lambda ws: str(ws.id).startswith(tuple("0123456789")),
        )
        got = [sid_of(r) async for r in export]
    assert got == [s for s in fake.dataset.session_ids(P) if s[0].isdigit()]


@pytest.mark.anyio
async def test_an_error_in_select_ends_the_export() -> None:
    fake = FakeICA(Dataset(seed=28, sessions=10, analyses=1))

    def select(ws: Any) -> bool:
        raise LookupError("the mirror's own bug")

    async with fake.session() as ica:
        with pytest.raises(LookupError, match="own bug"):
            async for _ in ica.export_workflow_sessions(P, on_error="record", _select=select):
                pass


# -- unusable listing items (#11) -------------------------------------------------------------

GOOD = "5b0c5d6e-1111-4222-8333-444455556666"
BAD_ITEMS: list[Any] = [
    None,
    5,
    "text",
    ["a"],
    {},
    {"id": None},
    {"id": 7},
    {"id": ["x"]},
    {"id": {"nested": 1}},
    {"id": ""},
    {"id": ".."},
    {"id": "not-a-uuid"},
    {"id": "\ud800"},
]


def listing_server(items: list[Any]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("workflowSessions:search"):
            # json.dumps escapes the lone surrogate, as a server's JSON encoder would.
            body = json.dumps({"items": items, "nextPageToken": None})
            return httpx.Response(200, content=body, headers={"content-type": "application/json"})
        if path.endswith("/analyses:search"):
            return httpx.Response(200, json={"items": [], "nextPageToken": ""})
        return httpx.Response(200, json={"items": []})

    return handler


def mock_session(handler: Callable[[httpx.Request], httpx.Response]) -> aioica.Session:
    return aioica.Session(
        auth=aioica.ApiKeyAuth("k" * 16),
        base_url="http://localhost/ica/rest",
        transport=httpx.MockTransport(handler),
        retry=aioica.RetryPolicy.none(),
    )


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.anyio
async def test_unusable_listing_items_are_invalid_response_errors(raw: bool) -> None:
    items = [*BAD_ITEMS, {"id": GOOD}]
    requested: list[str] = []
    handler = listing_server(items)

    def spy(request: httpx.Request) -> httpx.Response:
        requested.append(request.url.path)
        return handler(request)

    async with mock_session(spy) as ica:
        export = ica.export_workflow_sessions("p1", raw=raw, on_error="record", ordered=True)
        records = [r async for r in export]
        assert (export.sessions_done, export.sessions_failed) == (1, len(BAD_ITEMS))
    assert len(records) == len(items)
    for record, item in zip(records[:-1], BAD_ITEMS, strict=True):
        assert type(record.error) is aioica.InvalidResponseError, item
        assert "p1" in str(record.error)
        if raw:
            assert record.workflow_session == item  # the item exactly as listed
        json.dumps(record.to_dict())
    assert records[-1].error is None and sid_of(records[-1]) == GOOD
    assert "is null, not an object" in str(records[0].error)
    assert "has id 7, not a" in str(records[6].error)
    assert "has no id" in str(records[4].error)
    # Only the good session's three requests went out after the listing.
    assert len(requested) == 4 and all(GOOD in p for p in requested[1:])


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("item", BAD_ITEMS, ids=repr)
@pytest.mark.anyio
async def test_unusable_listing_item_raises_by_default(raw: bool, item: Any) -> None:
    async with mock_session(listing_server([{"id": GOOD}, item])) as ica:
        with pytest.raises(aioica.InvalidResponseError):
            async for _ in ica.export_workflow_sessions("p1", raw=raw):
                pass


@pytest.mark.anyio
async def test_ids_only_need_what_the_included_parts_need() -> None:
    # inputs and configurations take any safe id; only analyses:search wants a UUID.
    async with mock_session(listing_server([{"id": "ws-1"}])) as ica:
        records = [r async for r in ica.export_workflow_sessions("p1", include="inputs", raw=True)]
    assert [sid_of(r) for r in records] == ["ws-1"] and records[0].inputs == []


# -- bounded work per session (#11) -----------------------------------------------------------


class EndlessAnalyses:
    """A listing of two sessions; one has an analyses cursor that never ends."""

    def __init__(self, per_page: int) -> None:
        self.per_page = per_page
        self.endless = str(uuid.UUID(int=1))
        self.normal = str(uuid.UUID(int=2))
        self.pages = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("workflowSessions:search"):
            items = [{"id": self.endless}, {"id": self.normal}]
            return httpx.Response(200, json={"items": items})
        if path.endswith(f"{self.endless}/analyses:search"):
            self.pages += 1
            base = self.pages * self.per_page
            items = [
                {"analysis": {"id": str(uuid.UUID(int=base + i)), "status": "SUCCEEDED"}}
                for i in range(self.per_page)
            ]
            return httpx.Response(200, json={"items": items, "nextPageToken": f"t{self.pages}"})
        if path.endswith("/analyses:search"):
            return httpx.Response(200, json={"items": [{"analysis": {"id": GOOD}}]})
        return httpx.Response(200, json={"items": []})


@pytest.mark.anyio
async def test_endless_analyses_cursor_fails_that_session_with_memory_bounded() -> None:
    server = EndlessAnalyses(per_page=1000)
    tracemalloc.start()
    try:
        async with mock_session(server) as ica:
            with anyio.fail_after(60):  # without the cap this would never end
                records = [
                    r async for r in ica.export_workflow_sessions("p1", on_error="record", raw=True)
                ]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    by_id = {sid_of(r): r for r in records}
    failed = by_id[server.endless]
    assert isinstance(failed.error, aioica.PaginationError)
    assert "10,000 analyses" in str(failed.error)
    assert "max_analyses_per_session" in str(failed.error)
    assert failed.analyses is None
    assert by_id[server.normal].error is None and analysis_ids(by_id[server.normal]) == [GOOD]
    # The default cap (10,000) is reached on page 11; nothing more was asked for.
    assert server.pages == 11
    # Ten thousand small analyses and one page in flight: tens of MB at most, not unbounded.
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MB"


@pytest.mark.anyio
async def test_analyses_cap_is_settable_and_raises_by_default() -> None:
    server = EndlessAnalyses(per_page=1000)
    async with mock_session(server) as ica:
        with pytest.raises(aioica.PaginationError, match="2,500 analyses"):
            async for _ in ica.export_workflow_sessions(P, max_analyses_per_session=2500):
                pass
    assert server.pages == 3  # 2,000 kept, the third page would pass 2,500


@pytest.mark.anyio
async def test_endless_cursor_of_empty_pages_is_capped_too() -> None:
    server = EndlessAnalyses(per_page=0)
    async with mock_session(server) as ica:
        records = [
            r
            async for r in ica.export_workflow_sessions(
                P, on_error="record", max_analyses_per_session=50
            )
        ]
    (failed,) = [r for r in records if r.error is not None]
    assert isinstance(failed.error, aioica.PaginationError)
    assert "50 pages" in str(failed.error)
    assert server.pages == 51


@pytest.mark.anyio
async def test_a_session_at_the_cap_is_complete() -> None:
    fake = FakeICA(Dataset(seed=29, sessions=12, analyses=4))
    most = max(len(fake.dataset.analysis_ids(P, s)) for s in fake.dataset.session_ids(P))
    async with fake.session() as ica:
        records = [r async for r in ica.export_workflow_sessions(P, max_analyses_per_session=most)]
    assert all(r.error is None for r in records) and len(records) == 12


# -- validation and the producer's references -------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"skip": "5b0c5d6e-1111-4222-8333-444455556666"}, "skip"),
        ({"skip": [1, 2]}, "skip"),
        ({"skip": [""]}, "skip"),
        ({"skip": 5}, "skip"),
        ({"on_error": "ignore"}, "on_error"),
        ({"max_analyses_per_session": 0}, "max_analyses_per_session"),
        ({"max_analyses_per_session": True}, "max_analyses_per_session"),
        ({"max_analyses_per_session": "10"}, "max_analyses_per_session"),
        ({"_select": "yes"}, "select"),
    ],
)
@pytest.mark.anyio
async def test_bad_arguments_fail_before_any_request(
    kwargs: dict[str, Any], parameter: str
) -> None:
    fake = FakeICA(Dataset(seed=30, sessions=3))
    async with fake.session() as ica:
        with pytest.raises(aioica.InvalidParameterError) as info:
            ica.export_workflow_sessions(P, **kwargs)
        assert info.value.parameter == parameter
    assert fake.counters.requests == 0


@pytest.mark.anyio
async def test_the_producer_holds_no_reference_to_the_iterator() -> None:
    fake = FakeICA(Dataset(seed=31, sessions=3))
    async with fake.session() as ica:
        export = ica.export_workflow_sessions(P)
        producer = export._producer()
        ref = weakref.ref(export)
        del export
        gc.collect()
        assert ref() is None
        assert callable(producer)
