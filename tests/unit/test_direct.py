"""The direct path (``aioica._direct``) gives exactly what the usual path gives, and only runs
where it may.

Each scenario runs twice against the same misbehaving-on-demand server: once with the session's
direct path and once with it switched off (the usual path: httpx request, the Sender, the
transport adapter, httpx response). What the server saw and what the caller got (data, the
``httpx.Response`` of ``*_with_http_info``, or the exception with its request and response)
must be identical. The direct path runs only on asyncio, with the aiohttp transport.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

import aioica
from aioica._direct import LeanReply, as_response
from tests.support.hostile_server import MIB, HostileServer, Request, head, respond, trickle
from tests.support.payloads import SID

pytestmark = pytest.mark.tcp

KEY = "sekret-api-key-0123456789"
JSON = ("Content-Type", "application/vnd.illumina.v3+json")
INPUTS = {"items": [{"name": "in", "type": "file", "values": ["fil.1"]}]}
PAGE = {"items": [{"id": SID, "status": "Succeeded"}], "nextPageToken": None, "totalItemCount": 1}

Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]
Scenario = Callable[[aioica.Session], Awaitable[Any]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as s:
        yield s


def answer(
    status: int, body: bytes, coding: str | None = None, **kw: Any
) -> Callable[[Request, asyncio.StreamWriter], Awaitable[None]]:
    headers = [JSON] + ([("Content-Encoding", coding)] if coding else [])

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, status, body, headers, **kw)

    return handler


def gz(data: Any) -> bytes:
    return gzip.compress(json.dumps(data).encode())


def described_response(response: httpx.Response | None) -> Any:
    if response is None:
        return None
    request = response.request
    try:
        content: Any = response.content
    except httpx.ResponseNotRead:
        content = httpx.ResponseNotRead
    return (
        response.status_code,
        response.headers.multi_items(),
        content,
        response.extensions,
        (request.method, str(request.url), request.headers.multi_items(), request.content),
        request.extensions,
        response.is_closed,
        response.is_stream_consumed,
        response.default_encoding,
        response.history,
        response.next_request,
        type(response.elapsed),
    )


def described(outcome: Any) -> Any:
    if isinstance(outcome, BaseException):
        request = getattr(outcome, "request", None)
        return (
            type(outcome),
            str(outcome),
            getattr(outcome, "status_code", None),
            getattr(outcome, "attempts", None),
            None if request is None else (request.method, str(request.url), request.headers),
            described_response(getattr(outcome, "response", None)),
        )
    if isinstance(outcome, aioica.ApiResponse):
        return (repr(outcome.data), described_response(outcome.http_response))
    return repr(outcome)


async def run(
    server: HostileServer, handler: Handler, scenario: Scenario, *, direct: bool, **kwargs: Any
) -> tuple[Any, list[tuple[bytes, bytes]], int]:
    kwargs.setdefault("retry", aioica.RetryPolicy.none())
    kwargs.setdefault("timeout", httpx.Timeout(5.0))
    server.handler = handler
    server.requests.clear()
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(KEY),
        base_url=server.url + "/ica/rest",
        transport="aiohttp",
        **kwargs,
    ) as ica:
        requester = ica._requester
        assert requester is not None and requester.direct is not None
        path = requester.direct
        if not direct:
            requester.direct = None
        try:
            outcome = await scenario(ica)
        except aioica.APIError as exc:
            outcome = exc
        count = path.count
    seen = [(r.raw_head, r.body) for r in server.requests]
    return outcome, seen, count


async def both(server: HostileServer, handler: Handler, scenario: Scenario, **kwargs: Any) -> Any:
    """Run ``scenario`` both ways; assert same wire and outcome; return the direct outcome."""
    got, seen, count = await run(server, handler, scenario, direct=True, **kwargs)
    want, want_seen, none = await run(server, handler, scenario, direct=False, **kwargs)
    assert count > 0 and none == 0
    assert seen == want_seen
    assert described(got) == described(want)
    return got


def inputs_info(ica: aioica.Session) -> Awaitable[Any]:
    return ica.get_workflow_session_inputs_with_http_info("p", SID)


def search_info(ica: aioica.Session) -> Awaitable[Any]:
    return ica.search_workflow_sessions_with_http_info("p", page_size=10)


@pytest.mark.anyio
@pytest.mark.parametrize("coding", [None, "gzip"])
@pytest.mark.parametrize("scenario", [inputs_info, search_info], ids=["get", "post"])
async def test_a_plain_success_is_the_same_response(
    server: HostileServer, coding: str | None, scenario: Scenario
) -> None:
    body = INPUTS if scenario is inputs_info else PAGE
    raw = gz(body) if coding else json.dumps(body).encode()
    got = await both(server, answer(200, raw, coding), scenario)
    assert isinstance(got, aioica.ApiResponse)
    assert got.http_response.json() == body


@pytest.mark.anyio
async def test_a_lean_reply_builds_its_response_once(server: HostileServer) -> None:
    server.handler = answer(200, gz(INPUTS), "gzip")
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(KEY), base_url=server.url + "/ica/rest", transport="aiohttp"
    ) as ica:
        requester = ica._requester
        assert requester is not None
        url = ica._url(f"/api/projects/p/workflowSessions/{SID}/inputs", None)
        reply = await requester.send("GET", url)
        assert isinstance(reply, LeanReply)
        assert reply.content == json.dumps(INPUTS).encode()
        first = as_response(reply)
        assert as_response(reply) is first and as_response(first) is first
        assert first.request.headers["x-api-key"] == KEY
        assert first.elapsed.total_seconds() > 0


def pages(ica: aioica.Session) -> Awaitable[Any]:
    return ica.search_workflow_sessions("p", page_size=1).collect()


@pytest.mark.anyio
async def test_a_cursor_chain_is_the_same(server: HostileServer) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        token = json.loads(request.body or b"{}").get("pageToken") or ""
        if "pageToken=" in request.target:
            token = request.target.rsplit("pageToken=", 1)[1].split("&")[0]
        n = int(token or 0)
        page = {"items": [{"id": SID, "status": "Succeeded", "reference": f"r{n}"}]}
        page["nextPageToken"] = str(n + 1) if n < 3 else None
        await respond(writer, 200, gz(page), [JSON, ("Content-Encoding", "gzip")])

    got = await both(server, handler, pages)
    assert len(got) == 4


def problem(status: int) -> bytes:
    return json.dumps({"title": "nope", "status": status, "detail": f"key {KEY} bad"}).encode()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "handler",
    [
        answer(404, problem(404)),
        answer(401, gzip.compress(problem(401)), "gzip"),
        answer(401, problem(401), "gzip"),  # not gzip after all
        answer(500, b"<html>oops</html>"),
        answer(200, b"<html>not json</html>"),  # the body's error needs the response
        answer(200, b"[1, 2]"),
        answer(200, json.dumps({"items": 3}).encode()),
        answer(200, json.dumps({"items": [], "nextPageToken": 7}).encode()),
        answer(200, gzip.compress(b"{}")[:-8] + b"garbage!", "gzip"),  # corrupt gzip
        answer(200, zlib.compress(json.dumps(PAGE).encode()), "deflate"),
        answer(200, gz(PAGE), "x-gzip"),
        answer(200, json.dumps(PAGE).encode(), "identity"),
        answer(200, b"\x00\x01", "br"),
        answer(200, gz(PAGE), "gzip, gzip"),
        answer(200, gz(PAGE), "gzip", chunked=True),  # no Content-Length: streamed
        answer(200, json.dumps(PAGE).encode() + b" " * (2 * MIB)),  # past the eager read
        answer(200, json.dumps(PAGE).encode() + b" " * 3000),  # past max_response_bytes
        answer(200, gzip.compress(json.dumps(PAGE).encode() + b" " * 3000), "gzip"),
    ],
    ids=[
        "404",
        "401-gzip",
        "401-bad-gzip",
        "500-html",
        "200-not-json",
        "200-array",
        "200-items-not-list",
        "200-bad-token",
        "corrupt-gzip",
        "deflate",
        "x-gzip",
        "identity",
        "br",
        "stacked",
        "chunked",
        "large",
        "over-cap",
        "over-cap-gzip",
    ],
)
async def test_anything_else_is_handed_over_with_the_same_outcome(
    server: HostileServer, handler: Handler
) -> None:
    await both(server, handler, search_info, max_response_bytes=3_000)


@pytest.mark.anyio
async def test_a_large_body_within_the_cap(server: HostileServer) -> None:
    body = json.dumps(PAGE).encode() + b" " * (2 * MIB)
    got = await both(server, answer(200, body), search_info)
    assert isinstance(got, aioica.ApiResponse) and got.http_response.content == body


@pytest.mark.anyio
async def test_retries_and_redirects_are_the_same(server: HostileServer) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.target.endswith("/inputs2"):
            await respond(writer, 200, gz(INPUTS), [JSON, ("Content-Encoding", "gzip")])
        elif sum(r.target == request.target for r in server.requests) == 1:
            await respond(writer, 503, b"busy", [("Retry-After", "0")])
        else:
            await respond(writer, 307, b"", [("Location", request.target + "2")])

    retry = aioica.RetryPolicy(max_attempts=3, backoff_base=0.0)
    got = await both(server, handler, inputs_info, retry=retry, follow_redirects=True)
    assert isinstance(got, aioica.ApiResponse)
    assert got.http_response.request.url.path.endswith("/inputs2")
    assert len(server.requests) == 3


@pytest.mark.anyio
async def test_transport_errors_are_the_same(server: HostileServer) -> None:
    async def cut(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [JSON, ("Content-Length", "5000")]) + b'{"items": [')
        await writer.drain()

    got = await both(server, cut, inputs_info)
    assert isinstance(got, aioica.APIConnectionError)

    # Nothing listens on a port just closed: the connect fails the same way on both paths.
    with HostileServer() as gone:
        port = gone.port
    outcomes = []
    for direct in (True, False):
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(KEY),
            base_url=f"http://127.0.0.1:{port}/ica/rest",
            transport="aiohttp",
            retry=aioica.RetryPolicy.none(),
        ) as ica:
            assert ica._requester is not None
            if not direct:
                ica._requester.direct = None
            with pytest.raises(aioica.APIConnectionError) as info:
                await ica.get_workflow_session_inputs("p", SID)
            outcomes.append(described(info.value))
    assert outcomes[0] == outcomes[1]


@pytest.mark.anyio
async def test_the_deadline_is_the_same(server: HostileServer) -> None:
    async def slow(request: Request, writer: asyncio.StreamWriter) -> None:
        body = json.dumps(INPUTS).encode()
        writer.write(head(200, [JSON, ("Content-Length", str(len(body)))]))
        await trickle(writer, body, 0.05, limit=5)

    timeout = httpx.Timeout(0.1, read=0.3)
    got = await both(server, slow, inputs_info, timeout=timeout)
    assert isinstance(got, aioica.APITimeoutError) and "deadline" in str(got)


@pytest.mark.anyio
async def test_bearer_auth_takes_the_direct_path(server: HostileServer) -> None:
    server.handler = answer(200, gz(INPUTS), "gzip")
    async with aioica.Session(
        auth=aioica.BearerAuth("a.b.c"), base_url=server.url + "/ica/rest", transport="aiohttp"
    ) as ica:
        info = await ica.get_workflow_session_inputs_with_http_info("p", SID)
        assert ica._requester is not None and ica._requester.direct is not None
        assert ica._requester.direct.count == 1
    assert info.http_response.request.headers["authorization"] == "Bearer a.b.c"
    assert server.requests[0].headers["authorization"] == "Bearer a.b.c"


class _Custom(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["X-API-Key"] = KEY
        yield request


@pytest.mark.anyio
@pytest.mark.parametrize(
    "kind", ["token-auth", "custom-auth", "httpx-transport", "subclassed-transport", "own-client"]
)
async def test_where_there_is_no_direct_path(server: HostileServer, kind: str) -> None:
    from aioica._transports import AiohttpTransport

    server.handler = answer(200, gz(INPUTS), "gzip")
    kwargs: dict[str, Any] = {"auth": aioica.ApiKeyAuth(KEY), "transport": "aiohttp"}
    client: Any = None
    if kind == "token-auth":
        kwargs["auth"] = aioica.TokenAuth(KEY)
    elif kind == "custom-auth":
        kwargs["auth"] = _Custom()
    elif kind == "httpx-transport":
        kwargs["transport"] = "httpx"
    elif kind == "subclassed-transport":
        # aioica's own class passed in takes the path (see below); a subclass may send
        # differently, so it does not.
        kwargs["transport"] = client = type("Mine", (AiohttpTransport,), {})(max_connections=4)
    else:
        client = httpx.AsyncClient(transport=AiohttpTransport(max_connections=4))
        kwargs = {"auth": aioica.ApiKeyAuth(KEY), "http_client": client}
    async with aioica.Session(base_url=server.url + "/ica/rest", **kwargs) as ica:
        assert ica._requester is not None and ica._requester.direct is None
        if kind != "token-auth":  # the fake server mints no tokens
            info = await ica.get_workflow_session_inputs_with_http_info("p", SID)
            assert info.http_response.json() == INPUTS
    if client is not None:
        await client.aclose()  # the caller's: closing it twice is harmless


@pytest.mark.anyio
@pytest.mark.parametrize("switch", ["httpx-info", "aioica-debug", "event-hook", "respx"])
async def test_what_turns_the_direct_path_off_per_request(
    server: HostileServer, switch: str, caplog: pytest.LogCaptureFixture
) -> None:
    import respx

    server.handler = answer(200, gz(INPUTS), "gzip")
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(KEY), base_url=server.url + "/ica/rest", transport="aiohttp"
    ) as ica:
        requester = ica._requester
        assert requester is not None and requester.direct is not None
        await ica.get_workflow_session_inputs("p", SID)
        assert requester.direct.count == 1
        hooked: list[httpx.Request] = []

        async def hook(request: httpx.Request) -> None:
            hooked.append(request)

        if switch == "httpx-info":
            with caplog.at_level(logging.INFO, logger="httpx"):
                await ica.get_workflow_session_inputs("p", SID)
            assert any("HTTP Request: GET" in r.getMessage() for r in caplog.records)
        elif switch == "aioica-debug":
            with caplog.at_level(logging.DEBUG, logger="aioica"):
                await ica.get_workflow_session_inputs("p", SID)
            assert any("attempt 1" in r.getMessage() for r in caplog.records)
        elif switch == "event-hook":
            requester.client.event_hooks["request"].append(hook)
            await ica.get_workflow_session_inputs("p", SID)
            assert len(hooked) == 1
            requester.client.event_hooks["request"].clear()
        else:
            with respx.mock(assert_all_called=False) as mock:
                mock.get(url__regex=r".*/inputs$").respond(json=INPUTS)
                await ica.get_workflow_session_inputs("p", SID)
                assert mock.calls.call_count == 1
        assert requester.direct.count == 1
        await ica.get_workflow_session_inputs("p", SID)
        assert requester.direct.count == 2


@pytest.mark.anyio
async def test_a_url_a_proxy_takes_goes_the_usual_way(
    server: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.handler = answer(200, gz(INPUTS), "gzip")
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(KEY), base_url=server.url + "/ica/rest", transport="aiohttp"
    ) as ica:
        direct = ica._requester.direct  # type: ignore[union-attr]
        assert direct is not None
        # A loopback base URL always goes direct, so its requests still take the path...
        await ica.get_workflow_session_inputs("p", SID)
        assert direct.count == 1
        # ...and a URL the environment's proxy would carry does not.
        assert not direct.ready(httpx.URL("http://ica.example.org/ica/rest/api/x"))
        assert direct.ready(httpx.URL(server.url + "/ica/rest/api/x"))


@pytest.mark.anyio
async def test_an_observer_sees_the_same_events(server: HostileServer) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if sum(r.target == request.target for r in server.requests) == 1:
            await respond(writer, 503, b"busy", [("Retry-After", "0")])
        else:
            await respond(writer, 200, gz(INPUTS), [JSON, ("Content-Encoding", "gzip")])

    seen: dict[bool, list[tuple[Any, ...]]] = {}
    for direct in (True, False):
        events: list[aioica.RequestEvent] = []
        retry = aioica.RetryPolicy(max_attempts=2, backoff_base=0.0)
        outcome, _, count = await run(
            server, handler, inputs_info, direct=direct, retry=retry, on_event=events.append
        )
        assert isinstance(outcome, aioica.ApiResponse) and (count > 0) == direct
        seen[direct] = [
            (e.kind, e.method, e.path, e.call, e.attempt, e.status, type(e.error)) for e in events
        ]
    assert seen[True] == seen[False]
    assert [e[0] for e in seen[True]] == ["request", "response", "retry", "request", "response"]


@pytest.mark.anyio
async def test_a_passed_aiohttp_transport_of_aioicas_class_takes_the_path(
    server: HostileServer,
) -> None:
    from aioica._transports import AiohttpTransport

    server.handler = answer(200, gz(INPUTS), "gzip")
    transport = AiohttpTransport(max_connections=4)
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(KEY), base_url=server.url + "/ica/rest", transport=transport
    ) as ica:
        assert await ica.get_workflow_session_inputs("p", SID, raw=True) == INPUTS
        assert ica._requester is not None and ica._requester.direct is not None
        assert ica._requester.direct.count == 1
    await transport.aclose()  # the caller's: closing it twice is harmless
