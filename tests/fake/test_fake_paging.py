"""Paging of the fake ICA: cursor completeness, token hygiene, offset mode, sort, last pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aioica.testing import Dataset, FakeICA
from tests.support.contract import checked_client

P = "demo-project"
WS = f"/api/projects/{P}/workflowSessions"


@pytest.fixture
def fake() -> FakeICA:
    return FakeICA(Dataset(seed=11, sessions=37, analyses=4))


async def _cursor_ids(c: httpx.AsyncClient, method: str, url: str, size: int, **kw: Any) -> Any:
    ids: list[str] = []
    tokens: list[str] = []
    params: dict[str, str] = {"pageSize": str(size)}
    expected_remaining: int | None = None
    while True:
        r = await c.request(method, url, params=params, **kw)
        assert r.status_code == 200, r.text
        body = r.json()
        if expected_remaining is not None:
            assert len(body["items"]) == min(size, expected_remaining)
        ids += [i.get("id") or i["analysis"]["id"] for i in body["items"]]
        assert "totalItemCount" not in body or body["totalItemCount"] is None
        token = body.get("nextPageToken")
        expected_remaining = body["remainingRecords"]
        if not token:
            assert body["remainingRecords"] == 0
            return ids, tokens
        tokens.append(token)
        params["pageToken"] = token


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 5, 36, 37, 1000])
async def test_cursor_paging_returns_every_item_once(fake: FakeICA, size: int) -> None:
    expected = fake.dataset.session_ids(P)
    async with checked_client(fake) as c:
        v3, tokens = await _cursor_ids(c, "GET", WS, size)
        v4, _ = await _cursor_ids(c, "POST", WS + ":search", size, json={})
    assert v3 == v4 == expected
    for token in tokens:
        assert set(token) & set("+/=&% ")  # a client that forgets to URL-encode breaks


@pytest.mark.anyio
async def test_cursor_paging_of_analyses(fake: FakeICA) -> None:
    async with checked_client(fake) as c:
        for sid in fake.dataset.session_ids(P)[:12]:
            got, _ = await _cursor_ids(c, "POST", f"{WS}/{sid}/analyses:search", 2, json={})
            assert got == fake.dataset.analysis_ids(P, sid)


@pytest.mark.anyio
async def test_unencoded_or_foreign_tokens_fail(fake: FakeICA) -> None:
    async with checked_client(fake) as c:
        first = (await c.get(WS, params={"pageSize": "3"})).json()
        token = first["nextPageToken"]
        raw = await c.get(httpx.URL(f"{fake.base_url}{WS}?pageSize=3&pageToken={token}"))
        assert raw.status_code == 400
        assert raw.json()["parameters"]["pageToken"]
        good = await c.get(WS, params={"pageSize": "3", "pageToken": token})
        assert good.status_code == 200
        # A token only continues the query that issued it.
        other = await c.get(WS, params={"pageSize": "3", "pageToken": token, "usertag": "rerun"})
        assert other.status_code == 400
        search = await c.post(WS + ":search", params={"pageToken": token}, json={})
        assert search.status_code == 400
        for garbage in ("x", token[:-1], token.replace("sig=", "sig=A"), "ica+/%%&sig=% ="):
            r = await c.get(WS, params={"pageToken": garbage})
            assert r.status_code == 400, garbage


@pytest.mark.anyio
@pytest.mark.parametrize(
    "params",
    [
        {"pageToken": "t", "pageOffset": "0"},
        {"pageToken": "t", "sort": "status"},
        {"pageSize": "0"},
        {"pageSize": "1001"},
        {"pageSize": "-1"},
        {"pageSize": "ten"},
        {"pageOffset": "-5"},
        {"sort": "status sideways"},
        {"sort": "status,,reference"},
        {"sort": "colour desc"},
    ],
)
async def test_invalid_paging_parameters(fake: FakeICA, params: dict[str, str]) -> None:
    async with checked_client(fake) as c:
        r = await c.get(WS, params=params)
    assert r.status_code == 400
    assert r.json()["status"] == 400


@pytest.mark.anyio
async def test_offset_paging_and_total(fake: FakeICA) -> None:
    ids = fake.dataset.session_ids(P)
    async with checked_client(fake) as c:
        r = await c.post(WS + ":search", params={"pageOffset": "5", "pageSize": "4"}, json={})
        body = r.json()
        assert [i["id"] for i in body["items"]] == ids[5:9]
        assert body["totalItemCount"] == 37
        assert body["nextPageToken"] == ""
        past = (await c.get(WS, params={"pageOffset": "40"})).json()
        assert past["items"] == []
        assert past["totalItemCount"] == 37
        # Filtered totals count only matching rows.
        body = (
            await c.post(WS + ":search", params={"pageOffset": "0"}, json={"status": ["FAILED"]})
        ).json()
        expected = [s.id for s in fake.dataset.sessions(P) if s.status == "FAILED"]
        assert [i["id"] for i in body["items"]] == expected
        assert body["totalItemCount"] == len(expected)


@pytest.mark.anyio
async def test_offset_cap() -> None:
    fake = FakeICA(Dataset(sessions=30, analyses=0), offset_limit=20)
    async with checked_client(fake) as c:
        r = await c.get(WS, params={"pageOffset": "16", "pageSize": "10"})
        assert len(r.json()["items"]) == 4
        assert r.json()["totalItemCount"] == 30
        assert (await c.get(WS, params={"pageOffset": "20"})).status_code == 400
        # Cursor paging has no cap.
        r = await c.get(WS, params={"pageSize": "25"})
        r = await c.get(WS, params={"pageSize": "25", "pageToken": r.json()["nextPageToken"]})
        assert len(r.json()["items"]) == 5


SESSION_FIELDS = {
    "reference": lambda s: s.reference,
    "userReference": lambda s: s.user_reference,
    "pipeline": lambda s: s.workflow_code,
    "workflow": lambda s: s.workflow_code,
    "status": lambda s: s.status,
    "startDate": lambda s: s.start_date,
    "endDate": lambda s: s.end_date,
}


def _key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


def _expected(rows: list[Any], spec: list[tuple[str, bool]], fields: dict[str, Any]) -> list[str]:
    rows = list(rows)
    for name, desc in reversed(spec):
        rows.sort(key=lambda r: _key(fields[name](r)), reverse=desc)
    return [r.id for r in rows]


async def _offset_all(c: httpx.AsyncClient, method: str, url: str, sort: str, **kw: Any) -> Any:
    ids: list[str] = []
    offset = 0
    while True:
        params = {"sort": sort, "pageOffset": str(offset), "pageSize": "8"}
        body = (await c.request(method, url, params=params, **kw)).json()
        ids += [i.get("id") or i["analysis"]["id"] for i in body["items"]]
        offset += 8
        if offset >= body["totalItemCount"]:
            return ids


@pytest.mark.anyio
@pytest.mark.parametrize("field", sorted(SESSION_FIELDS))
@pytest.mark.parametrize("desc", [False, True])
async def test_session_sort_single_fields(fake: FakeICA, field: str, desc: bool) -> None:
    rows = fake.dataset.sessions(P)
    sort = f"{field} {'desc' if desc else 'asc'}"
    async with checked_client(fake) as c:
        got = await _offset_all(c, "POST", WS + ":search", sort, json={})
    assert got == _expected(rows, [(field, desc)], SESSION_FIELDS)


@pytest.mark.anyio
async def test_sort_multi_field_and_v3(fake: FakeICA) -> None:
    rows = fake.dataset.sessions(P)
    spec = [("status", False), ("startDate", True), ("reference", False)]
    async with checked_client(fake) as c:
        got = await _offset_all(c, "GET", WS, "status, startDate desc ,reference asc")
        default_asc = await _offset_all(c, "GET", WS, "workflow,endDate DESC")
    # The V3 list orders by the V3 spelling of the status it shows.
    v3_fields = {**SESSION_FIELDS, "status": lambda s: s.status_v3}
    assert got == _expected(rows, spec, v3_fields)
    assert default_asc == _expected(rows, [("workflow", False), ("endDate", True)], v3_fields)


ANALYSIS_FIELDS = {
    "reference": lambda a: a.reference,
    "userReference": lambda a: a.user_reference,
    "pipeline": lambda a: a.pipeline,
    "status": lambda a: a.status,
    "startDate": lambda a: a.start_date,
    "endDate": lambda a: a.end_date,
    "summary": lambda a: a.summary,
}


@pytest.mark.anyio
async def test_analysis_sorts(fake: FakeICA) -> None:
    sid = max(fake.dataset.sessions(P), key=lambda s: s.analysis_count).id
    rows = fake.dataset.analyses(P, sid)
    assert len(rows) >= 5
    async with checked_client(fake) as c:
        for field in ANALYSIS_FIELDS:
            for desc in (False, True):
                sort = f"{field} desc" if desc else field
                got = await _offset_all(c, "POST", f"{WS}/{sid}/analyses:search", sort, json={})
                assert got == _expected(rows, [(field, desc)], ANALYSIS_FIELDS), sort
        got = await _offset_all(
            c, "POST", f"{WS}/{sid}/analyses:search", "pipeline desc, startDate", json={}
        )
    assert got == _expected(rows, [("pipeline", True), ("startDate", False)], ANALYSIS_FIELDS)


async def _last_form(c: httpx.AsyncClient, params: dict[str, str]) -> str:
    while True:
        body = (await c.get(WS, params=params)).json()
        if body.get("nextPageToken"):
            params = {**params, "pageToken": body["nextPageToken"]}
            continue
        if "nextPageToken" not in body:
            return "absent"
        return "null" if body["nextPageToken"] is None else "empty"


@pytest.mark.anyio
async def test_all_three_last_page_forms_occur(fake: FakeICA) -> None:
    async with checked_client(fake) as c:
        forms = {await _last_form(c, {"pageSize": str(n)}) for n in range(5, 12)}
        assert forms == {"null", "absent", "empty"}
        for knob in ("null", "absent", "empty"):
            fake.last_page_token = knob
            assert {await _last_form(c, {"pageSize": str(n)}) for n in (10, 20, 50)} == {knob}


@pytest.mark.anyio
async def test_filters_match_dataset(fake: FakeICA) -> None:
    rows = fake.dataset.sessions(P)
    async with checked_client(fake) as c:
        cases: list[tuple[dict[str, Any], dict[str, str], Any]] = [
            (
                {"status": ["IN_PROGRESS", "FAILED"]},
                {},
                lambda s: s.status in ("IN_PROGRESS", "FAILED"),
            ),
            (
                {"userTags": ["clinical"]},
                {"usertag": "clinical"},
                lambda s: "clinical" in s.user_tags,
            ),
            (
                {"technicalTags": ["auto-launch"]},
                {"technicaltag": "auto-launch"},
                lambda s: "auto-launch" in s.technical_tags,
            ),
            ({"referenceTags": ["hg19"]}, {}, lambda s: "hg19" in s.reference_tags),
            (
                {"userReference": "germline"},
                {"userreference": "germline"},
                lambda s: "germline" in s.user_reference.lower(),
            ),
            (
                {"reference": "tso500", "status": ["SUCCEEDED"]},
                {"reference": "tso500", "status": "SUCCEEDED"},
                lambda s: "tso500" in s.reference and s.status == "SUCCEEDED",
            ),
            ({}, {"status": "INPROGRESS"}, lambda s: s.status_v3 == "INPROGRESS"),
        ]
        for body, query, predicate in cases:
            expected = [s.id for s in rows if predicate(s)]
            assert expected, body
            got = (await c.post(WS + ":search", json=body, params={"pageSize": "1000"})).json()
            if body:
                assert [i["id"] for i in got["items"]] == expected, body
            if query:
                got = (await c.get(WS, params={**query, "pageSize": "1000"})).json()
                assert [i["id"] for i in got["items"]] == expected, query


@pytest.mark.anyio
async def test_two_hundred_thousand_sessions_page() -> None:
    fake = FakeICA(Dataset(sessions=200_000, analyses=0))
    async with fake.http_client() as c:
        first = (await c.get(WS, params={"pageSize": "1000"})).json()
        assert first["remainingRecords"] == 199_000
        second = await c.get(WS, params={"pageSize": "1000", "pageToken": first["nextPageToken"]})
        assert second.json()["items"][0]["id"] == fake.dataset.session_rows(P)[1000].id
        end = await c.get(WS, params={"pageOffset": "199999", "pageSize": "1000"})
        assert len(end.json()["items"]) == 1
        assert (await c.get(WS, params={"pageOffset": "200000"})).status_code == 400
