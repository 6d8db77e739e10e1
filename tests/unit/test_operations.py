"""Request shape (respx) and decoding of the five operations."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import httpx
import pytest
import respx

import aioica
from tests.support.payloads import SID, SID2, analysis, session_v3, session_v4

BASE = "https://ica.example.org/ica/rest"
P = "/api/projects/proj-1"
KEY = "sekret-api-key-0123456789"


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(base_url=BASE, assert_all_called=False)


@pytest.fixture
async def ica(router: respx.MockRouter) -> AsyncIterator[aioica.Session]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))
    async with (
        client,
        aioica.Session(
            auth=aioica.ApiKeyAuth(KEY),
            base_url=BASE,
            http_client=client,
            retry=aioica.RetryPolicy.none(),
        ) as session,
    ):
        yield session


def page(items: list[dict[str, Any]], token: str | None = None, **more: Any) -> dict[str, Any]:
    return {"items": items, "nextPageToken": token, **more}


def v3json(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(data).encode(),
        headers={"Content-Type": "application/vnd.illumina.v3+json"},
    )


# -- request shape ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_get_workflow_sessions_request(ica: aioica.Session, router: respx.MockRouter) -> None:
    route = router.get(P + "/workflowSessions").mock(return_value=v3json(page([session_v3()])))
    result = await ica.get_workflow_sessions(
        "proj-1",
        reference="r&x=1",
        userreference="u",
        status="INPROGRESS",
        usertag="t1",
        technicaltag="tt",
        page_offset=0,
        page_size=50,
        sort="startDate desc, reference",
    )
    assert isinstance(result, aioica.WorkflowSessionPagedListV3)
    req = route.calls.last.request
    assert req.method == "GET"
    assert dict(req.url.params) == {
        "reference": "r&x=1",
        "userreference": "u",
        "status": "INPROGRESS",
        "usertag": "t1",
        "technicaltag": "tt",
        "pageOffset": "0",
        "pageSize": "50",
        "sort": "startDate desc, reference",
    }
    assert req.headers["accept"] == "application/vnd.illumina.v3+json"
    assert "gzip" in req.headers["accept-encoding"]
    assert req.headers["user-agent"] == f"aioica/{aioica.__version__}"
    assert req.headers["x-api-key"] == KEY
    assert result.items[0].status == "INPROGRESS"
    assert result.items[0].owner_id == UUID("11111111-2222-4333-8444-555555555555")


@pytest.mark.anyio
async def test_search_workflow_sessions_request(
    ica: aioica.Session, router: respx.MockRouter
) -> None:
    route = router.post(P + "/workflowSessions:search").mock(
        return_value=v3json(page([session_v4()], "tok/+=&%"))
    )
    aqp = aioica.AnalysisQueryParameters(status=["FAILED", "FAILED_FINAL"], user_tags=["a"])
    result = await ica.search_workflow_sessions(
        "proj-1", page_token="a b/c+d", page_size="1000", analysis_query_parameters=aqp
    )
    req = route.calls.last.request
    assert req.method == "POST"
    assert req.url.raw_path.decode().startswith(
        "/ica/rest/api/projects/proj-1/workflowSessions:search?"
    )
    assert dict(req.url.params) == {"pageToken": "a b/c+d", "pageSize": "1000"}
    assert b"a+b%2Fc%2Bd" in req.url.query or b"a%20b%2Fc%2Bd" in req.url.query
    assert req.headers["content-type"] == "application/vnd.illumina.v3+json"
    assert json.loads(req.content) == {"status": ["FAILED", "FAILED_FINAL"], "userTags": ["a"]}
    assert result.next_page_token == "tok/+=&%"
    assert isinstance(result.items[0], aioica.WorkflowSessionV4)


@pytest.mark.anyio
async def test_search_without_body_sends_empty_object(
    ica: aioica.Session, router: respx.MockRouter
) -> None:
    route = router.post(P + "/workflowSessions:search").mock(return_value=v3json(page([])))
    await ica.search_workflow_sessions("proj-1", analysis_query_parameters={"reference": "x"})
    assert json.loads(route.calls.last.request.content) == {"reference": "x"}
    await ica.search_workflow_sessions("proj-1")
    assert json.loads(route.calls.last.request.content) == {}


@pytest.mark.anyio
async def test_inputs_and_configurations_requests(
    ica: aioica.Session, router: respx.MockRouter
) -> None:
    inputs = router.get(P + f"/workflowSessions/{SID}/inputs").mock(
        return_value=v3json(
            {
                "items": [
                    {
                        "code": "run_folder",
                        "analysisData": [
                            {
                                "dataId": "fol.123",
                                "name": "run",
                                "dataType": "FOLDER",
                                "format": None,
                            }
                        ],
                        "externalData": None,
                    }
                ]
            }
        )
    )
    configs = router.get(P + f"/workflowSessions/{SID}/configurations").mock(
        return_value=v3json({"items": [{"name": "ref", "multiValue": True, "values": ["a", "b"]}]})
    )
    got_inputs = await ica.get_workflow_session_inputs("proj-1", SID)
    got_configs = await ica.get_workflow_session_configurations("proj-1", UUID(SID))
    assert inputs.called and configs.called
    assert got_inputs.items[0].analysis_data is not None
    assert got_inputs.items[0].analysis_data[0].data_type == "FOLDER"
    assert got_configs.items[0].multi_value is True
    assert got_configs.items[0].values == ["a", "b"]


@pytest.mark.anyio
async def test_inputs_and_configurations_raw_are_the_wire_objects(
    ica: aioica.Session, router: respx.MockRouter
) -> None:
    inputs_body = {"items": [{"code": "x", "analysisData": None, "futureField": {"a": 1}}]}
    configs_body = {"items": [{"name": "ref", "values": ["a"], "multiValue": "maybe"}], "n": 1}
    inputs = router.get(P + f"/workflowSessions/{SID}/inputs").mock(
        return_value=v3json(inputs_body)
    )
    configs = router.get(P + f"/workflowSessions/{SID}/configurations").mock(
        return_value=v3json(configs_body)
    )
    assert await ica.get_workflow_session_inputs("proj-1", SID, raw=True) == inputs_body
    assert await ica.get_workflow_session_configurations("proj-1", SID, raw=True) == configs_body
    assert inputs.call_count == 1 and configs.call_count == 1
    assert inputs.calls.last.request.headers["Accept"] == "application/vnd.illumina.v3+json"


@pytest.mark.anyio
async def test_search_orchestrated_analyses_request(
    ica: aioica.Session, router: respx.MockRouter
) -> None:
    route = router.post(P + f"/workflowSessions/{SID}/analyses:search").mock(
        return_value=v3json(page([analysis()], "", remainingRecords=0))
    )
    result = await ica.search_orchestrated_analyses(
        "proj-1", SID.upper(), page_offset="200", page_size=10, sort="summary asc"
    )
    req = route.calls.last.request
    assert dict(req.url.params) == {"pageOffset": "200", "pageSize": "10", "sort": "summary asc"}
    item = result.items[0]
    assert item.analysis is not None and item.analysis.id == UUID(
        "11111111-2222-4333-8444-555555555555"
    )
    assert item.workflow_session_id == UUID(SID)
    assert result.next_page_token == ""


@pytest.mark.parametrize(
    ("project", "encoded"),
    [
        ("a/b", "a%2Fb"),
        ("../x", "..%2Fx"),
        ("q?x=1", "q%3Fx%3D1"),
        ("h#f", "h%23f"),
        ("p%2F", "p%252F"),
        ("sp ace", "sp%20ace"),
        ("ünï", "%C3%BCn%C3%AF"),
    ],
)
@pytest.mark.anyio
async def test_hostile_project_ids_are_encoded(
    ica: aioica.Session, router: respx.MockRouter, project: str, encoded: str
) -> None:
    route = router.route().mock(return_value=v3json({"items": []}))
    await ica.get_workflow_session_inputs(project, "ws..1")
    raw = route.calls.last.request.url.raw_path.decode()
    assert raw == f"/ica/rest/api/projects/{encoded}/workflowSessions/ws..1/inputs"


# -- raw access and logging ------------------------------------------------------------------


@pytest.mark.anyio
async def test_with_http_info_gives_response_and_model(
    ica: aioica.Session, router: respx.MockRouter
) -> None:
    route = router.post(P + "/workflowSessions:search").mock(
        return_value=httpx.Response(
            200,
            json=page([session_v4()]),
            headers={"X-Request-Id": "req-42", "Content-Type": "application/vnd.illumina.v3+json"},
        )
    )
    info = await ica.search_workflow_sessions_with_http_info("proj-1", page_size=5)
    assert route.call_count == 1
    assert info.status_code == 200
    assert info.headers["x-request-id"] == "req-42"
    assert isinstance(info.data, aioica.WorkflowSessionPagedListV4)
    assert info.http_response.json()["items"][0]["id"] == SID
    inputs = router.get(P + f"/workflowSessions/{SID}/inputs").mock(
        return_value=v3json({"items": []})
    )
    info2 = await ica.get_workflow_session_inputs_with_http_info("proj-1", SID)
    assert inputs.call_count == 1 and info2.data.items == []


@pytest.mark.anyio
async def test_one_debug_record_per_attempt_without_secrets(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    router.get(P + f"/workflowSessions/{SID}/inputs").mock(
        side_effect=[
            httpx.Response(503, text="<html>busy</html>"),
            httpx.Response(200, json={"items": []}, headers={"x-request-id": "abc-1"}),
        ]
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))
    caplog.set_level(logging.DEBUG, logger="aioica")
    async with (
        client,
        aioica.Session(
            auth=aioica.ApiKeyAuth(KEY),
            base_url=BASE,
            http_client=client,
            retry=aioica.RetryPolicy(backoff_base=0.0),
        ) as ica,
    ):
        await ica.get_workflow_session_inputs("proj-1", SID)
    records = [r for r in caplog.records if r.name == "aioica"]
    assert len(records) == 2
    assert "503" in records[0].getMessage() and "attempt 1" in records[0].getMessage()
    assert "200" in records[1].getMessage() and "attempt 2" in records[1].getMessage()
    assert "abc-1" in records[1].getMessage()
    assert all(KEY not in r.getMessage() for r in caplog.records)


# -- decoding --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_decoding_is_lenient(ica: aioica.Session, router: respx.MockRouter) -> None:
    odd = session_v4(SID2, status="PAUSED_BY_OPERATOR", brandNew={"x": 1})
    odd["owner"] = None
    del odd["tenant"]
    odd["workflow"]["id"] = "not-a-uuid"
    odd["timeCreated"] = "yesterday"
    router.post(P + "/workflowSessions:search").mock(
        return_value=v3json(page([session_v4(), odd, 7], None, remainingRecords=0, newTop=True))
    )
    result = await ica.search_workflow_sessions("proj-1")
    assert len(result.items) == 3
    good, weird, junk = result.items
    assert good.status == aioica.StatusV4.IN_PROGRESS
    assert weird.status == "PAUSED_BY_OPERATOR"
    assert weird.extra["brandNew"] == {"x": 1}
    assert weird.owner is None and weird.tenant is None
    assert weird.time_created is None and weird.extra["timeCreated"] == "yesterday"
    assert weird.workflow is not None and weird.workflow.id is None
    assert weird.workflow.code == "bclconvert-auto"
    assert weird.id == UUID(SID2)
    assert junk.extra == {"": 7}
    assert result.extra == {"newTop": True}
    assert result.remaining_records == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T10:15:30Z", datetime(2025, 3, 1, 10, 15, 30, tzinfo=timezone.utc)),
        ("2025-03-01T10:15:30z", datetime(2025, 3, 1, 10, 15, 30, tzinfo=timezone.utc)),
        ("2025-03-01T10:15:30.1Z", datetime(2025, 3, 1, 10, 15, 30, 100000, tzinfo=timezone.utc)),
        (
            "2025-03-01T10:15:30.123456789Z",
            datetime(2025, 3, 1, 10, 15, 30, 123456, tzinfo=timezone.utc),
        ),
        (
            "2025-03-01T10:15:30.5+02:00",
            datetime(2025, 3, 1, 10, 15, 30, 500000, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2025-03-01T10:15:30-0530",
            datetime(2025, 3, 1, 10, 15, 30, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
        ("2025-03-01T10:15:30", datetime(2025, 3, 1, 10, 15, 30, tzinfo=timezone.utc)),
        ("2025-03-01T10:15", datetime(2025, 3, 1, 10, 15, tzinfo=timezone.utc)),
    ],
)
def test_datetime_shapes(text: str, expected: datetime) -> None:
    parsed = aioica.models.parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_round_trip_to_dict() -> None:
    wire = page([session_v4(extraField=[1, 2])], "next", remainingRecords=3)
    model = aioica.from_dict(wire, aioica.WorkflowSessionPagedListV4)
    back = aioica.to_dict(model)
    item = back["items"][0]
    assert item["extraField"] == [1, 2]
    assert item["userReference"] == "run-2025-03-01-A"
    assert item["timeCreated"] == "2025-03-01T10:15:30.123456Z"
    assert item["startDate"] == "2025-03-01T10:16:00+02:00"
    assert back["nextPageToken"] == "next" and back["remainingRecords"] == 3
    assert aioica.from_dict(back, aioica.WorkflowSessionPagedListV4) == model


# -- errors ----------------------------------------------------------------------------------

PROBLEM = {
    "type": "about:blank",
    "title": "ICA_API_004",
    "status": 404,
    "detail": "Project 'proj-1' not found",
    "instance": "/ica/rest/api/projects/proj-1",
    "parameters": {"projectId": "proj-1"},
    "timestamp": "2025-01-01T00:00:00Z",
    "id": "9a9a9a9a-1b1b-4c4c-8d8d-2e2e2e2e2e2e",
    "traceId": "t-1",
}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, aioica.BadRequestError),
        (401, aioica.AuthenticationError),
        (403, aioica.PermissionDeniedError),
        (404, aioica.NotFoundError),
        (409, aioica.ConflictError),
        (422, aioica.UnprocessableEntityError),
        (429, aioica.RateLimitError),
        (500, aioica.ServerError),
        (502, aioica.ServerError),
        (503, aioica.ServerError),
        (418, aioica.APIStatusError),
    ],
)
@pytest.mark.anyio
async def test_status_errors_are_typed(
    ica: aioica.Session, router: respx.MockRouter, status: int, cls: type[Exception]
) -> None:
    body = {**PROBLEM, "status": status}
    router.get(P + f"/workflowSessions/{SID}/inputs").mock(
        return_value=httpx.Response(
            status,
            json=body,
            headers={"Content-Type": "application/problem+json", "Retry-After": "7"},
        )
    )
    with pytest.raises(cls) as info:
        await ica.get_workflow_session_inputs("proj-1", SID)
    err = info.value
    assert isinstance(err, aioica.APIStatusError)
    assert err.status_code == status
    assert err.problem is not None
    assert err.problem.title == "ICA_API_004"
    assert err.problem.parameters == {"projectId": "proj-1"}
    assert err.problem.extra == {"traceId": "t-1"}
    assert "ICA_API_004" in str(err) and "not found" in str(err)
    assert str(status) in str(err)
    assert err.request_id == "9a9a9a9a-1b1b-4c4c-8d8d-2e2e2e2e2e2e"
    assert KEY not in str(err)
    # Retry-After is read where it means something: on a 429 and on a 503.
    assert err.retry_after == (7.0 if status in (429, 503) else None)
    depth = 0
    for ch in str(err):  # hints read as one parenthesised aside, never nested
        depth += {"(": 1, ")": -1}.get(ch, 0)
        assert 0 <= depth <= 1, str(err)


@pytest.mark.anyio
async def test_html_error_body(ica: aioica.Session, router: respx.MockRouter) -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body></html>"
    router.get(P + f"/workflowSessions/{SID}/inputs").mock(
        return_value=httpx.Response(502, text=html, headers={"Content-Type": "text/html"})
    )
    with pytest.raises(aioica.ServerError) as info:
        await ica.get_workflow_session_inputs("proj-1", SID)
    message = str(info.value)
    assert info.value.problem is None
    assert "text/html" in message and "502 Bad Gateway" in message
    assert len(message) < 400


@pytest.mark.anyio
async def test_transport_errors(ica: aioica.Session, router: respx.MockRouter) -> None:
    route = router.get(P + f"/workflowSessions/{SID}/inputs")
    route.mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(aioica.APIConnectionError) as info:
        await ica.get_workflow_session_inputs("proj-1", SID)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert not isinstance(info.value, aioica.APITimeoutError)
    route.mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(aioica.APITimeoutError) as tinfo:
        await ica.get_workflow_session_inputs("proj-1", SID)
    assert isinstance(tinfo.value.__cause__, httpx.ReadTimeout)


@pytest.mark.anyio
async def test_bad_success_bodies(ica: aioica.Session, router: respx.MockRouter) -> None:
    route = router.post(P + "/workflowSessions:search")
    for body, needle in [
        (b"<html>maintenance</html>", "unparsable"),
        (b"[1,2]", "JSON object"),
        (b'{"items": {"a": 1}}', "not a list"),
        (json.dumps({"items": [], "nextPageToken": "t" * 2001}).encode(), "2000"),
        (json.dumps({"items": [], "nextPageToken": 5}).encode(), "not a string"),
        (b"[" * 100_000 + b"]" * 100_000, "unparsable"),
    ]:
        route.mock(return_value=httpx.Response(200, content=body))
        with pytest.raises(aioica.InvalidResponseError, match=needle):
            await ica.search_workflow_sessions("proj-1")


# -- validation ------------------------------------------------------------------------------

BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("get_workflow_session_inputs", {"project_id": "", "workflow_session_id": SID}, "project_id"),
    (
        "get_workflow_session_inputs",
        {"project_id": "p", "workflow_session_id": ".."},
        "workflow_session_id",
    ),
    ("get_workflow_session_inputs", {"project_id": ".", "workflow_session_id": SID}, "project_id"),
    (
        "get_workflow_session_inputs",
        {"project_id": "p", "workflow_session_id": "  "},
        "workflow_session_id",
    ),
    (
        "get_workflow_session_inputs",
        {"project_id": "p\n", "workflow_session_id": SID},
        "project_id",
    ),
    ("get_workflow_session_inputs", {"project_id": 5, "workflow_session_id": SID}, "project_id"),
    (
        "get_workflow_session_configurations",
        {"project_id": "p", "workflow_session_id": ""},
        "workflow_session_id",
    ),
    (
        "search_orchestrated_analyses",
        {"project_id": "p", "workflow_session_id": "abc"},
        "workflow_session_id",
    ),
    (
        "search_orchestrated_analyses",
        {"project_id": "p", "workflow_session_id": SID, "page_size": 0},
        "page_size",
    ),
    ("search_workflow_sessions", {"project_id": "p", "page_size": 1001}, "page_size"),
    ("search_workflow_sessions", {"project_id": "p", "page_size": "ten"}, "page_size"),
    ("search_workflow_sessions", {"project_id": "p", "page_size": True}, "page_size"),
    ("search_workflow_sessions", {"project_id": "p", "page_offset": -1}, "page_offset"),
    ("search_workflow_sessions", {"project_id": "p", "page_offset": 10**9}, "page_offset"),
    (
        "search_workflow_sessions",
        {"project_id": "p", "page_offset": 0, "page_token": "t"},
        "page_token",
    ),
    ("search_workflow_sessions", {"project_id": "p", "page_token": "t", "sort": "status"}, "sort"),
    ("search_workflow_sessions", {"project_id": "p", "sort": "summary"}, "sort"),
    ("search_workflow_sessions", {"project_id": "p", "sort": "status sideways"}, "sort"),
    ("search_workflow_sessions", {"project_id": "p", "page_token": "x" * 2001}, "page_token"),
    (
        "search_workflow_sessions",
        {"project_id": "p", "analysis_query_parameters": {"status": "FAILED"}},
        "analysis_query_parameters",
    ),
    (
        "search_workflow_sessions",
        {"project_id": "p", "analysis_query_parameters": {"bogus": 1}},
        "analysis_query_parameters",
    ),
    (
        "search_workflow_sessions",
        {"project_id": "p", "analysis_query_parameters": 5},
        "analysis_query_parameters",
    ),
    (
        "search_workflow_sessions",
        {
            "project_id": "p",
            "analysis_query_parameters": aioica.AnalysisQueryParameters(status="FAILED"),
        },
        "analysis_query_parameters.status",
    ),  # type: ignore[arg-type]
    ("get_workflow_sessions", {"project_id": "p", "status": 3}, "status"),
    ("get_workflow_sessions", {"project_id": "p", "sort": "summary"}, "sort"),
    ("search_workflow_sessions", {"project_id": "p", "prefetch": -1}, "prefetch"),
    ("search_workflow_sessions", {"project_id": "p", "max_items": 0}, "max_items"),
]


@pytest.mark.parametrize(("op", "kwargs", "param"), BAD_CALLS)
@pytest.mark.anyio
async def test_validation_before_any_request(
    ica: aioica.Session, router: respx.MockRouter, op: str, kwargs: dict[str, Any], param: str
) -> None:
    route = router.route().mock(return_value=v3json({"items": []}))
    with pytest.raises(aioica.InvalidParameterError) as info:
        result = getattr(ica, op)(**kwargs)
        await result
    assert isinstance(info.value, ValueError)
    assert info.value.parameter == param
    assert str(info.value).startswith(param)
    assert route.call_count == 0


@pytest.mark.anyio
async def test_session_must_be_open(router: respx.MockRouter) -> None:
    session = aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url=BASE)
    with pytest.raises(aioica.SessionClosedError, match="async with"):
        await session.get_workflow_session_inputs("p", SID)
    async with session:
        pass
    with pytest.raises(aioica.SessionClosedError, match="closed"):
        await session.get_workflow_session_inputs("p", SID)


def test_session_repr_and_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    session = aioica.Session(auth=aioica.ApiKeyAuth(KEY))
    text = repr(session)
    assert aioica.DEFAULT_BASE_URL in text and KEY not in text
    with pytest.raises(aioica.ConfigurationError, match="credentials"):
        aioica.Session()
    with pytest.raises(aioica.ConfigurationError, match="plain http"):
        aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url="http://ica.example.org/ica/rest")
    aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url="http://127.0.0.1:9/ica/rest")
    aioica.Session(
        auth=aioica.ApiKeyAuth(KEY),
        base_url="http://ica.example.org/ica/rest",
        allow_insecure_http=True,
    )
    with pytest.raises(aioica.ConfigurationError, match="max_concurrency"):
        aioica.Session(auth=aioica.ApiKeyAuth(KEY), max_concurrency=0)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ICAV2_ACCESS_TOKEN", "ICAV2_X_API_KEY", "ICAV2_BASE_URL", "ICAV2_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(aioica.ConfigurationError, match="ICAV2_X_API_KEY"):
        aioica.Session.from_env()
    monkeypatch.setenv("ICAV2_X_API_KEY", KEY)
    monkeypatch.setenv("ICAV2_SERVER_URL", "ica.example.org")
    s = aioica.Session.from_env()
    assert isinstance(s.auth, aioica.ApiKeyAuth)
    assert s.base_url == "https://ica.example.org/ica/rest"
    monkeypatch.setenv("ICAV2_BASE_URL", "https://other.example.org/ica/rest/")
    monkeypatch.setenv("ICAV2_ACCESS_TOKEN", "a.b.c")
    s = aioica.Session.from_env()
    assert isinstance(s.auth, aioica.BearerAuth)
    assert s.base_url == "https://other.example.org/ica/rest"
    s = aioica.Session.from_env(base_url="https://explicit.example.org/ica/rest")
    assert s.base_url == "https://explicit.example.org/ica/rest"


def test_path_segment_remembers_only_what_passed() -> None:
    from aioica import _params

    _params._SEGMENTS.clear()
    assert _params.path_segment("project_id", "a b/c") == "a%20b%2Fc"
    assert _params._SEGMENTS == {"a b/c": "a%20b%2Fc"}
    assert _params.path_segment("workflow_session_id", "a b/c") == "a%20b%2Fc"
    for bad in ("", "..", "x\n", "\ud800", "x" * 2000):
        with pytest.raises(aioica.InvalidParameterError):
            _params.path_segment("project_id", bad)
        assert bad not in _params._SEGMENTS

    class Odd(str):
        pass

    assert _params.path_segment("project_id", Odd("odd")) == "odd"
    assert "odd" not in _params._SEGMENTS  # only exact strings are remembered
    for i in range(_params._SEGMENTS_MAX + 5):
        _params.path_segment("project_id", f"id-{i}")
    assert len(_params._SEGMENTS) <= _params._SEGMENTS_MAX


def test_session_uuid_gives_the_canonical_form() -> None:
    from aioica import _params

    canonical = "0f0e0d0c-0b0a-4909-8807-060504030201"
    assert _params.session_uuid("id", canonical) is canonical  # already canonical: as it is
    for spelling in (
        canonical.upper(),
        f" {canonical}\n",
        "{" + canonical + "}",
        "urn:uuid:" + canonical,
        canonical.replace("-", ""),
        UUID(canonical),
    ):
        got = _params.session_uuid("id", spelling)
        assert got == canonical and type(got) is str

    class Odd(str):
        pass

    got = _params.session_uuid("id", Odd(canonical))
    assert got == canonical and type(got) is str
    for bad in (
        "",
        "0f0e0d0c-0b0a-4909-8807-06050403020",
        "0f0e0d0c-0b0a-4909-8807-06050403020g",
        7,
    ):
        with pytest.raises(aioica.InvalidParameterError, match="must be a UUID"):
            _params.session_uuid("id", bad)
