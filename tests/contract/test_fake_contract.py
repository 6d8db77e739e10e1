"""Every response of the fake ICA validates against the vendored OpenAPI spec (openapi-core)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from aioica.testing import V3_JSON, V4_TO_V3, Dataset, FakeICA
from tests.support.contract import checked_client, validate

WS = "/api/projects/{p}/workflowSessions"


@pytest.fixture
def fake() -> FakeICA:
    return FakeICA(
        Dataset(seed=3, projects=["demo-project", "weird id/ü?#%"], sessions=23, analyses=2)
    )


async def _walk(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> list[Any]:
    items: list[Any] = []
    params = dict(kw.pop("params", {}))
    while True:
        r = await client.request(method, url, params=params, **kw)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        token = body.get("nextPageToken")
        if not token:
            return items
        params["pageToken"] = token


@pytest.mark.anyio
async def test_every_route_and_parameter_spread_validates(fake: FakeICA) -> None:
    seen: list[httpx.Response] = []
    ds = fake.dataset
    async with checked_client(fake, seen=seen) as c:
        for project in ds.project_ids:
            ws = WS.format(p=quote(project, safe=""))
            for params in (
                {},
                {"pageSize": "1"},
                {"pageSize": "1000"},
                {"reference": "Germline"},
                {"userreference": "dragen"},
                {"status": "INPROGRESS"},
                {"status": "FAILEDFINAL,SUCCEEDED"},
                {"usertag": "clinical"},
                {"technicaltag": "auto-launch"},
                {"pageOffset": "5", "pageSize": "7"},
                {"sort": "startDate desc, reference"},
                {"sort": "workflow", "pageOffset": "20"},
            ):
                await _walk(c, "GET", ws, params=params)
            for body in (
                {},
                {"status": ["SUCCEEDED", "FAILED_FINAL"]},
                {"userTags": ["clinical", "rerun"]},
                {"technicalTags": ["auto-launch"]},
                {"referenceTags": ["GRCh38"]},
                {"reference": "tso500", "userReference": None},
                {"userReference": "Somatic", "status": None},
            ):
                await _walk(c, "POST", ws + ":search", json=body, params={"pageSize": "4"})
                await _walk(c, "POST", ws + ":search", json=body, params={"sort": "endDate"})
            for sid in ds.session_ids(project):
                base = f"{ws}/{sid}"
                assert (await c.get(base + "/inputs")).status_code == 200
                assert (await c.get(base + "/configurations")).status_code == 200
                await _walk(c, "POST", base + "/analyses:search", json={}, params={"pageSize": "1"})
                await _walk(
                    c,
                    "POST",
                    base + "/analyses:search",
                    json={"status": ["SUCCEEDED"]},
                    params={"sort": "summary desc,pipeline"},
                )
        # Tokens and a spread of problems.
        ws = WS.format(p="demo-project")
        sid = ds.session_ids()[0]
        assert (await c.post("/api/tokens")).status_code == 200
        basic = httpx.BasicAuth("user@example.com", "password")
        r = await c.post("/api/tokens", auth=basic, headers={"X-API-Key": ""})
        token = r.json()["token"]
        r = await c.post("/api/tokens:refresh", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        problems = [
            await c.get(WS.format(p="nope")),
            await c.get(f"{ws}/{'0' * 8}-0000-4000-8000-{'0' * 12}/inputs"),
            await c.post(f"{ws}/../configurations"),
            await c.get(ws, params={"pageSize": "0"}),
            await c.get(ws, params={"pageSize": "x"}),
            await c.get(ws, params={"pageToken": "garbage"}),
            await c.get(ws, params={"pageToken": "a", "pageOffset": "1"}),
            await c.get(ws, params={"pageToken": "a", "sort": "status"}),
            await c.get(ws, params={"sort": "colour"}),
            await c.get(ws, headers={"X-API-Key": "wrong"}),
            await c.get(ws, headers={"Accept": "application/problem+json"}),
            await c.post(ws + ":search", content=b"{", headers={"Content-Type": V3_JSON}),
            await c.post(ws + ":search", content=b"x", headers={"Content-Type": "text/plain"}),
            await c.post(ws + ":search", json={"status": ["NOPE"]}),
            await c.delete(ws),
            await c.get(ws + ":search"),
            await c.get("/api/nothing/here"),
            await c.post(f"{ws}/{sid}/analyses:search", json=[1]),
            await c.post("/api/tokens", headers={"X-API-Key": "wrong"}),
            await c.post("/api/tokens:refresh"),
        ]
        assert all(p.status_code >= 400 for p in problems)
    assert len(seen) > 300


@pytest.mark.anyio
async def test_validator_rejects_a_broken_payload(fake: FakeICA) -> None:
    async with fake.http_client() as c:
        r = await c.post(WS.format(p="demo-project") + ":search", json={})
    body = r.json()
    body["items"][0]["id"] = "not-a-uuid"
    broken = httpx.Response(200, json=body, request=r.request, headers={"content-type": V3_JSON})
    with pytest.raises(Exception, match="uuid"):
        validate(broken)


@pytest.mark.anyio
async def test_v3_and_v4_statuses_map_consistently(fake: FakeICA) -> None:
    async with fake.http_client() as c:
        v3 = await _walk(c, "GET", WS.format(p="demo-project"), params={"pageSize": "1000"})
        v4 = await _walk(c, "POST", WS.format(p="demo-project") + ":search", json={})
    v4_status = {item["id"]: item["status"] for item in v4}
    assert len(v3) == len(v4) == 23
    for item in v3:
        assert item["status"] == V4_TO_V3[v4_status[item["id"]]]


@pytest.mark.anyio
async def test_project_uuid_alias_and_encoded_ids(fake: FakeICA) -> None:
    ds = fake.dataset
    weird = "weird id/ü?#%"
    async with fake.http_client() as c:
        by_name = await c.get(WS.format(p=quote(weird, safe="")))
        by_uuid = await c.get(WS.format(p=ds.project_uuid(weird)))
        sid = ds.session_ids(weird)[0]
        analyses = await c.post(
            f"{WS.format(p=quote(weird, safe=''))}/{sid}/analyses:search", json={}
        )
    assert by_name.json() == by_uuid.json()
    assert [i["id"] for i in by_name.json()["items"]] == ds.session_ids(weird)
    for item in analyses.json()["items"]:
        assert item["project"]["id"] == ds.project_uuid(weird)
        assert item["project"]["name"] == weird
        assert item["workflowSessionId"] == sid


@pytest.mark.anyio
async def test_gzip_and_request_id(fake: FakeICA) -> None:
    async with fake.http_client() as c:
        r = await c.post(
            WS.format(p="demo-project") + ":search",
            json={},
            headers={"Accept-Encoding": "gzip"},
        )
        plain = await c.post(
            WS.format(p="demo-project") + ":search",
            json={},
            headers={"Accept-Encoding": "identity"},
        )
    assert r.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert r.json() == plain.json()
    assert r.headers["x-request-id"] != plain.headers["x-request-id"]


def test_dataset_is_deterministic_and_sized() -> None:
    a = Dataset(seed=7, sessions=2000, analyses=3)
    b = Dataset(seed=7, sessions=2000, analyses=3)
    c = Dataset(seed=8, sessions=2000, analyses=3)
    assert a.session_ids() == b.session_ids() != c.session_ids()
    ids = a.session_ids()
    assert len(set(ids)) == 2000
    counts = [len(a.analysis_ids("demo-project", s)) for s in ids]
    assert max(counts) <= 6
    assert 2.7 < sum(counts) / len(counts) < 3.3
    first = a.sessions()[0]
    assert a.analysis_ids("demo-project", first.id) == b.analysis_ids("demo-project", first.id)
    assert a.session_json(first, 4) == b.session_json(b.sessions()[0], 4)
    assert Dataset(projects=3).project_ids == ["demo-project", "demo-project-2", "demo-project-3"]
