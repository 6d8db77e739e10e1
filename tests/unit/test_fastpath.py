"""The fast send path behaves exactly like httpx's ``AsyncClient.send``, and only runs where it may.

Each scenario runs twice against the same handler: once through the fast path (forced on for
``httpx.MockTransport``, which it otherwise leaves to httpx) and once through ``client.send``;
what the server saw and what the caller got must be identical.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import aioica
from aioica._fastpath import RequestFactory, Sender
from aioica.testing import Dataset, FakeICA, serve
from tests.support.jwt import FAR_FUTURE, make_jwt
from tests.support.payloads import SID

BASE = "https://ica.example.org/ica/rest"
INPUTS = f"/ica/rest/api/projects/p/workflowSessions/{SID}/inputs"
SEARCH = "/ica/rest/api/projects/p/workflowSessions:search"
KEY = "sekret-api-key-0123456789"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def jwt(n: int) -> str:
    # A fixed expiry: both runs of a scenario must see the very same tokens.
    return make_jwt(FAR_FUTURE, n=n)


def seen(request: httpx.Request) -> tuple[Any, ...]:
    return (request.method, str(request.url), request.headers.multi_items(), request.content)


def ok(body: Any = None) -> httpx.Response:
    return httpx.Response(200, json={"items": []} if body is None else body)


def sender(ica: aioica.Session) -> Sender:
    requester = ica._requester
    assert requester is not None
    return requester.sender


@asynccontextmanager
async def opened(
    handler: Handler, *, fast: bool, auth: httpx.Auth | None = None, **kwargs: Any
) -> AsyncIterator[aioica.Session]:
    kwargs.setdefault("retry", aioica.RetryPolicy.none())
    ica = aioica.Session(
        auth=auth or aioica.ApiKeyAuth(KEY),
        base_url=BASE,
        transport=httpx.MockTransport(handler),
        **kwargs,
    )
    async with ica:
        s = sender(ica)
        if fast:
            # A transport the caller passed always goes through httpx; admitting MockTransport
            # here runs the very same exchange through the fast path instead.
            s._own_transports = (*s._own_transports, httpx.MockTransport)
        yield ica
        if fast:
            assert s.fast_count > 0 and s.httpx_count == 0
        else:
            assert s.fast_count == 0 and s.httpx_count > 0


async def both(
    make_handler: Callable[[list[tuple[Any, ...]]], Handler],
    scenario: Callable[[aioica.Session], Awaitable[Any]],
    **kwargs: Any,
) -> tuple[Any, list[tuple[Any, ...]]]:
    """Run ``scenario`` on both paths: the server must see the same, the caller get the same."""
    results = []
    for fast in (True, False):
        log: list[tuple[Any, ...]] = []
        auth = kwargs.pop("auth_factory", None)
        async with opened(
            make_handler(log), fast=fast, auth=auth() if auth else None, **kwargs
        ) as ica:
            outcome = await scenario(ica)
        results.append((outcome, log))
        if auth is not None:
            kwargs["auth_factory"] = auth
    (fast_outcome, fast_log), (slow_outcome, slow_log) = results
    assert fast_log == slow_log
    assert fast_outcome == slow_outcome
    return fast_outcome, fast_log


def elapsed_set(response: httpx.Response) -> bool:
    # A MockTransport answer is read (and closed) before it is returned, so neither httpx nor
    # the fast path gets to stamp it; a real transport's is stamped when closed (see the TCP
    # test below).
    try:
        return response.elapsed.total_seconds() >= 0
    except RuntimeError:
        return False


def describe(response: httpx.Response) -> tuple[Any, ...]:
    """What a caller can observe on a response aioica hands out."""
    return (
        response.status_code,
        response.headers.multi_items(),
        response.content,
        seen(response.request),
        elapsed_set(response),
        [(r.status_code, str(r.request.url)) for r in response.history],
        None if response.next_request is None else str(response.next_request.url),
        response.default_encoding,
        response.http_version,
        response.is_closed,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "auth_factory",
    [lambda: aioica.ApiKeyAuth(KEY), lambda: aioica.BearerAuth(jwt(1))],
    ids=["api-key", "bearer"],
)
async def test_same_requests_and_responses_with_header_auth(auth_factory: Any) -> None:
    def make(log: list[tuple[Any, ...]]) -> Handler:
        async def handler(request: httpx.Request) -> httpx.Response:
            log.append(seen(request))
            return ok({"items": [], "nextPageToken": None})

        return handler

    async def scenario(ica: aioica.Session) -> Any:
        info = await ica.get_workflow_session_inputs_with_http_info("p", SID)
        page = await ica.search_workflow_sessions_with_http_info(
            "p", page_size=5, analysis_query_parameters={"status": ["FAILED"]}
        )
        return describe(info.http_response), describe(page.http_response)

    _, log = await both(make, scenario, auth_factory=auth_factory)
    auth_headers = {k for _, _, headers, _ in log for k, _ in headers}
    assert {"x-api-key", "authorization"} & auth_headers
    assert log[1][3] == b'{"status":["FAILED"]}'


@pytest.mark.anyio
async def test_token_auth_mint_401_renewal_and_single_replay() -> None:
    def make(log: list[tuple[Any, ...]]) -> Handler:
        minted = [0]

        async def handler(request: httpx.Request) -> httpx.Response:
            log.append(seen(request))
            if request.url.path.endswith("/api/tokens"):
                minted[0] += 1
                return httpx.Response(200, json={"token": jwt(minted[0])})
            token = request.headers["authorization"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(token + "=="))
            if request.url.path.endswith("configurations"):
                return httpx.Response(401, json={"title": "always"})
            # The first token is "revoked": its first use gets a 401.
            return httpx.Response(401) if claims["n"] == 1 else ok()

        return handler

    async def scenario(ica: aioica.Session) -> Any:
        info = await ica.get_workflow_session_inputs_with_http_info("p", SID)
        with pytest.raises(aioica.APIStatusError) as caught:
            await ica.get_workflow_session_configurations("p", SID)
        auth = ica.auth
        assert isinstance(auth, aioica.TokenAuth)
        return describe(info.http_response), caught.value.status_code, auth.mint_count

    (response, status, mints), log = await both(
        make, scenario, auth_factory=lambda: aioica.TokenAuth(KEY)
    )
    paths = [url.rsplit("/", 1)[-1] for _, url, _, _ in log]
    # mint, 401, mint again, replay (200); then the persistent 401: one renewal, one replay.
    expected = ["tokens", "inputs", "tokens", "inputs", "configurations", "tokens"]
    assert paths == [*expected, "configurations"]
    assert status == 401 and mints == 3
    assert [code for code, _ in response[5]] == [200, 401, 200]


@pytest.mark.anyio
async def test_redirects_same_origin_keep_and_cross_origin_drop_credentials() -> None:
    def make(log: list[tuple[Any, ...]]) -> Handler:
        async def handler(request: httpx.Request) -> httpx.Response:
            log.append(seen(request))
            if request.url.host == "other.example.org":
                return ok()
            if request.url.path.endswith("inputs"):
                return httpx.Response(307, headers={"Location": "/ica/rest/moved"})
            if request.url.path.endswith("moved"):
                return httpx.Response(302, headers={"Location": "https://other.example.org/x"})
            return ok({"items": []})

        return handler

    async def scenario(ica: aioica.Session) -> Any:
        info = await ica.get_workflow_session_inputs_with_http_info("p", SID)
        return describe(info.http_response)

    _, log = await both(make, scenario, follow_redirects=True)
    keys = [dict(headers).get("x-api-key") for _, _, headers, _ in log]
    assert keys == [KEY, KEY, None]


@pytest.mark.anyio
async def test_unfollowed_redirect_error_carries_next_request() -> None:
    def make(log: list[tuple[Any, ...]]) -> Handler:
        async def handler(request: httpx.Request) -> httpx.Response:
            log.append(seen(request))
            return httpx.Response(302, headers={"Location": "/ica/rest/elsewhere"})

        return handler

    async def scenario(ica: aioica.Session) -> Any:
        with pytest.raises(aioica.APIStatusError) as caught:
            await ica.get_workflow_session_inputs("p", SID)
        response = caught.value.response
        assert response is not None and response.next_request is not None
        return type(caught.value).__name__, str(caught.value), describe(response)

    await both(make, scenario)


@pytest.mark.anyio
async def test_transport_errors_and_status_errors_map_the_same() -> None:
    def make(log: list[tuple[Any, ...]]) -> Handler:
        async def handler(request: httpx.Request) -> httpx.Response:
            log.append(seen(request))
            if request.url.path.endswith("inputs"):
                raise httpx.ConnectError("connection refused")
            return httpx.Response(503, text="<html>busy</html>")

        return handler

    async def scenario(ica: aioica.Session) -> Any:
        out = []
        for call in (ica.get_workflow_session_inputs, ica.get_workflow_session_configurations):
            with pytest.raises(aioica.APIError) as caught:
                await call("p", SID)
            err = caught.value
            cause = err.__cause__
            out.append(
                (
                    type(err).__name__,
                    str(err),
                    err.attempts,
                    type(cause).__name__,
                    # httpx attaches the request to transport errors; so does the fast path.
                    isinstance(cause, httpx.RequestError) and cause.request is err.request,
                )
            )
        return out

    outcome, _ = await both(make, scenario)
    assert outcome[0][0] == "APIConnectionError" and outcome[0][4]
    assert outcome[1][0] == "ServerError"


@pytest.mark.anyio
async def test_httpx_request_log_line_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    def make(log: list[tuple[Any, ...]]) -> Handler:
        async def handler(request: httpx.Request) -> httpx.Response:
            log.append(seen(request))
            return ok()

        return handler

    lines = []
    for fast in (True, False):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="httpx"):
            async with opened(make([]), fast=fast) as ica:
                await ica.get_workflow_session_inputs("p", SID)
        lines.append([r.getMessage() for r in caplog.records if r.name == "httpx"])
    assert lines[0] == lines[1]
    assert lines[0] == [f'HTTP Request: GET https://ica.example.org{INPUTS} "HTTP/1.1 200 OK"']


class CountingAuth(httpx.Auth):
    """A caller's own auth: its flow must run (httpx's machinery), never be skipped."""

    def __init__(self) -> None:
        self.flows = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.flows += 1
        request.headers["X-Custom"] = f"flow-{self.flows}"
        yield request


class PrefixedKey(aioica.ApiKeyAuth):
    """A subclass of aioica's own auth that changes the flow: it is a custom auth too."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-API-Key"] = "prefixed-" + self._api_key
        yield request


@pytest.mark.anyio
async def test_custom_auth_goes_through_httpx_even_where_the_fast_path_could_run() -> None:
    headers: list[httpx.Headers] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers)
        return ok()

    custom = CountingAuth()
    ica = aioica.Session(auth=custom, base_url=BASE, transport=httpx.MockTransport(handler))
    async with ica:
        s = sender(ica)
        s._own_transports = (*s._own_transports, httpx.MockTransport)
        await ica.get_workflow_session_inputs("p", SID)
        await ica.get_workflow_session_configurations("p", SID)
        assert (s.fast_count, s.httpx_count) == (0, 2)
    assert custom.flows == 2
    assert [h["x-custom"] for h in headers] == ["flow-1", "flow-2"]

    ica = aioica.Session(
        auth=PrefixedKey(KEY), base_url=BASE, transport=httpx.MockTransport(handler)
    )
    async with ica:
        s = sender(ica)
        s._own_transports = (*s._own_transports, httpx.MockTransport)
        await ica.get_workflow_session_inputs("p", SID)
        assert (s.fast_count, s.httpx_count) == (0, 1)
    assert headers[-1]["x-api-key"] == "prefixed-" + KEY


@pytest.mark.anyio
async def test_callers_client_goes_through_httpx_with_its_hooks() -> None:
    hooked: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        hooked.append(request.url.path)

    async def handler(request: httpx.Request) -> httpx.Response:
        return ok()

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(handler), event_hooks={"request": [on_request]}
    ) as client:
        async with aioica.Session(
            auth=aioica.ApiKeyAuth(KEY), base_url=BASE, http_client=client
        ) as ica:
            s = sender(ica)
            s._own_transports = (*s._own_transports, httpx.MockTransport)
            await ica.get_workflow_session_inputs("p", SID)
            assert (s.fast_count, s.httpx_count) == (0, 1)
    assert hooked == [INPUTS]


@pytest.mark.anyio
async def test_a_passed_transport_goes_through_httpx() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return ok()

    async with aioica.Session(
        auth=aioica.ApiKeyAuth(KEY), base_url=BASE, transport=httpx.MockTransport(handler)
    ) as ica:
        await ica.get_workflow_session_inputs("p", SID)
        assert (sender(ica).fast_count, sender(ica).httpx_count) == (0, 1)


@pytest.mark.tcp
@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["api-key", "token"])
async def test_own_transports_take_the_fast_path_over_tcp(anyio_backend: str, kind: str) -> None:
    fake = FakeICA(Dataset(sessions=5, analyses=2))
    auth: httpx.Auth = (
        aioica.ApiKeyAuth(fake.api_key) if kind == "api-key" else aioica.TokenAuth(fake.api_key)
    )
    async with serve(fake) as url, aioica.Session(auth=auth, base_url=url) as ica:
        async with ica.export_workflow_sessions("demo-project") as export:
            records = [r async for r in export]
        s = sender(ica)
        assert ica.transport_name == ("aiohttp" if anyio_backend == "asyncio" else "httpx-pools")
        assert len(records) == 5 and all(r.analyses is not None for r in records)
        assert s.httpx_count == 0
        # With a header auth on aioica's aiohttp transport the exchange skips the Sender too
        # (_direct); a token flow, or the httpx transport, takes the Sender's fast path.
        direct = ica._requester.direct  # type: ignore[union-attr]
        lean = anyio_backend == "asyncio" and kind == "api-key"
        assert (direct is not None) == lean
        assert (direct.count if direct else s.fast_count) == ica.requests_sent
        info = await ica.get_workflow_session_inputs_with_http_info(
            "demo-project", str(records[0].workflow_session.id)
        )
        response = info.http_response
        assert response.elapsed.total_seconds() > 0
        assert response.request.headers["accept"] == "application/vnd.illumina.v3+json"
        # Read in full by the transport and taken as it is: the response is read and closed,
        # and its content is the decoded body.
        assert response.is_closed and response.is_stream_consumed
        assert response.headers["content-encoding"] == "gzip"
        assert len(response.json()["items"]) == len(info.data.items) > 0
    if kind == "token":
        assert isinstance(auth, aioica.TokenAuth) and auth.mint_count == 1


def test_request_factory_builds_what_httpx_request_builds() -> None:
    headers = {"Accept": "a/b", "Accept-Encoding": "gzip", "User-Agent": "aioica/x"}
    post = {**headers, "Content-Type": "a/b"}
    extensions = {"timeout": httpx.Timeout(3.0).as_dict()}
    factory = RequestFactory(headers, post, extensions)
    for method, url, hdrs in (
        ("GET", httpx.URL("https://h.example/ica/rest/api/x?y=1"), headers),
        ("POST", httpx.URL("https://h.example:8443/ica/rest/api/x:search"), post),
        ("GET", httpx.URL("https://h.example/ica/rest/api/z"), headers),
    ):
        for _ in range(2):  # template built, then reused
            built = factory(method, url, method == "POST")
            expected = httpx.Request(method, url, headers=hdrs, extensions=extensions)
            assert seen(built) == seen(expected)
            assert built.extensions == expected.extensions
            assert built.extensions is not extensions
            built.headers["X-API-Key"] = "k"  # a request's headers are its own
    again = factory("GET", httpx.URL("https://h.example/ica/rest/api/x"), False)
    assert "x-api-key" not in again.headers


@pytest.mark.anyio
async def test_what_keeps_a_request_on_httpx_machinery() -> None:
    auth = aioica.ApiKeyAuth(KEY)
    request = httpx.Request("GET", BASE + "/api/x")
    async with aioica.Session(auth=auth, base_url=BASE, transport="httpx") as ica:
        s = sender(ica)
        assert s._transport_for(request, auth) is not None  # own client, auth, transport
        assert s._transport_for(request, CountingAuth()) is None
        assert s._transport_for(request, PrefixedKey(KEY)) is None
        assert s._transport_for(request, httpx.USE_CLIENT_DEFAULT) is None
        assert s._transport_for(request, None) is not None  # a cross-origin hop: no auth
        with_userinfo = httpx.Request("GET", "https://u:p@ica.example.org/ica/rest/api/x")
        assert s._transport_for(with_userinfo, None) is None  # httpx would send Basic auth
        client = ica._client
        assert client is not None
        client.event_hooks = {"request": [], "response": [lambda r: None]}
        assert s._transport_for(request, auth) is None
