"""Tests for the auth flows: headers, JWT minting, caching, renewal, 401 replay, secrecy."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from anyio import wait_all_tasks_blocked

from aioica._auth import ApiKeyAuth, BearerAuth, TokenAuth
from aioica._errors import (
    AuthenticationError,
    PermissionDeniedError,
    ServerError,
    TokenError,
)
from tests.support.jwt import b64url, make_jwt

BASE = "https://ica.test/ica/rest"
PROJECTS = f"{BASE}/api/projects/p1/workflowSessions"
API_KEY = "key-SECRET-1234567890"
EMAIL = "someone@example.org"
PASSWORD = "pw-SECRET-0987654321"
T0 = 1_700_000_000.0


class Clock:
    """A settable clock for ``TokenAuth(clock=...)``."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class TokenServer:
    """Just enough of ICA: tokens, tokens:refresh and one data endpoint."""

    def __init__(self, clock: Clock, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.issued: list[str] = []
        self.requests: list[httpx.Request] = []
        self.mint_hook: Handler | None = None
        self.refresh_hook: Handler | None = None
        self.data_hook: Handler | None = None

    def calls(self, path_suffix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith(path_suffix)]

    def issue(self) -> str:
        token = make_jwt(self.clock() + self.lifetime, jti=len(self.issued), sub="u")
        self.issued.append(token)
        return token

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        # A snapshot: a replayed request is the same object with new headers.
        self.requests.append(
            httpx.Request(
                request.method,
                request.url,
                headers=request.headers.copy(),
                content=request.content,
                extensions=dict(request.extensions),
            )
        )
        path = request.url.path
        if path.endswith("/api/tokens"):
            if self.mint_hook is not None:
                return await self.mint_hook(request)
            return httpx.Response(200, json={"token": self.issue()})
        if path.endswith("/api/tokens:refresh"):
            if self.refresh_hook is not None:
                return await self.refresh_hook(request)
            return httpx.Response(200, json={"token": self.issue()})
        if self.data_hook is not None:
            return await self.data_hook(request)
        ok = request.headers.get("authorization") == f"Bearer {self.issued[-1]}"
        return httpx.Response(200 if ok else 401, json={"items": []})

    def client(self, auth: httpx.Auth) -> httpx.AsyncClient:
        return httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(self))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ica(clock: Clock) -> TokenServer:
    return TokenServer(clock)


def json_problem(status: int, title: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"type": "about:blank", "title": title, "status": status, "detail": "nope"},
        headers={"content-type": "application/problem+json"},
    )


# -- static header auths -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_api_key_auth_sets_header() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    async with httpx.AsyncClient(
        auth=ApiKeyAuth(API_KEY), transport=httpx.MockTransport(handler)
    ) as client:
        await client.get(PROJECTS)
    assert seen[0].headers["x-api-key"] == API_KEY
    assert "authorization" not in seen[0].headers


@pytest.mark.anyio
async def test_bearer_auth_sets_header() -> None:
    token = make_jwt(T0)
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401)

    async with httpx.AsyncClient(
        auth=BearerAuth(token), transport=httpx.MockTransport(handler)
    ) as client:
        response = await client.get(PROJECTS)
    # A static token has nothing to renew: the 401 comes straight back.
    assert response.status_code == 401
    assert [r.headers["authorization"] for r in seen] == [f"Bearer {token}"]


def test_static_auths_work_with_sync_client() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        client.get(PROJECTS, auth=ApiKeyAuth(API_KEY))
        client.get(PROJECTS, auth=BearerAuth("abc"))
    assert seen[0].headers["x-api-key"] == API_KEY
    assert seen[1].headers["authorization"] == "Bearer abc"


def test_kinds_and_reprs() -> None:
    assert ApiKeyAuth(API_KEY).kind == "api-key"
    assert BearerAuth("t").kind == "bearer"
    assert TokenAuth(API_KEY).kind == "token(api-key)"
    assert TokenAuth(username=EMAIL, password=PASSWORD).kind == "token(basic)"
    assert repr(ApiKeyAuth(API_KEY)) == "ApiKeyAuth(api_key='***')"
    assert repr(BearerAuth("t")) == "BearerAuth(token='***')"
    assert repr(TokenAuth(API_KEY)) == "TokenAuth(mode='api_key', tenant=None)"
    assert (
        repr(TokenAuth(username=EMAIL, password=PASSWORD, tenant="acme"))
        == "TokenAuth(mode='basic', tenant='acme')"
    )


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        (("",), {}),
        (("  ",), {}),
        ((API_KEY,), {"username": EMAIL, "password": PASSWORD}),
        ((), {"username": EMAIL}),
        ((), {"password": PASSWORD}),
        ((), {"username": EMAIL, "password": ""}),
        ((API_KEY,), {"renew_fraction": 1.0}),
        ((API_KEY,), {"renew_fraction": -0.1}),
        ((API_KEY,), {"max_renew_margin": -1}),
        ((API_KEY,), {"tenant": ""}),
    ],
)
def test_token_auth_rejects_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as info:
        TokenAuth(*args, **kwargs)
    assert API_KEY not in str(info.value)
    assert PASSWORD not in str(info.value)


def test_static_auths_reject_empty_secrets() -> None:
    with pytest.raises(ValueError):
        ApiKeyAuth("")
    with pytest.raises(ValueError):
        BearerAuth(" ")
    with pytest.raises(TypeError):
        ApiKeyAuth(None)  # type: ignore[arg-type]


def test_token_auth_refuses_sync_clients() -> None:
    with (
        httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client,
        pytest.raises(TypeError, match="async-only"),
    ):
        client.get(PROJECTS, auth=TokenAuth(API_KEY))


# -- minting -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_mint_with_api_key(ica: TokenServer, clock: Clock) -> None:
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        response = await client.get(PROJECTS, headers={"User-Agent": "aioica-test"})
    assert response.status_code == 200
    mint = ica.calls("/api/tokens")[0]
    assert mint.method == "POST"
    assert str(mint.url) == f"{BASE}/api/tokens"
    assert mint.headers["x-api-key"] == API_KEY
    assert mint.headers["accept"] == "application/vnd.illumina.v3+json"
    assert mint.headers["user-agent"] == "aioica-test"
    assert "authorization" not in mint.headers
    assert mint.content == b""
    data = ica.calls("/workflowSessions")[0]
    assert data.headers["authorization"] == f"Bearer {ica.issued[0]}"
    # The mint inherits the client's timeouts rather than running without any.
    assert mint.extensions["timeout"] == data.extensions["timeout"]
    assert auth.mint_count == 1
    assert auth.refresh_count == 0
    assert auth.expires_at == T0 + 3600


@pytest.mark.anyio
async def test_mint_with_basic_login_and_tenant(ica: TokenServer, clock: Clock) -> None:
    auth = TokenAuth(username=EMAIL, password=PASSWORD, tenant="acme lab", clock=clock)
    async with ica.client(auth) as client:
        await client.get(PROJECTS)
    mint = ica.calls("/api/tokens")[0]
    expected = base64.b64encode(f"{EMAIL}:{PASSWORD}".encode()).decode()
    assert mint.headers["authorization"] == f"Basic {expected}"
    assert "x-api-key" not in mint.headers
    assert mint.url.params["tenant"] == "acme lab"
    assert mint.url.path == "/ica/rest/api/tokens"


@pytest.mark.anyio
async def test_token_endpoint_follows_the_request_base(clock: Clock) -> None:
    ica = TokenServer(clock)
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        await client.get("http://localhost:8080/api/projects/p/workflowSessions?x=1")
    assert str(ica.calls("/api/tokens")[0].url) == "http://localhost:8080/api/tokens"


@pytest.mark.anyio
async def test_request_without_api_path_is_a_token_error(ica: TokenServer, clock: Clock) -> None:
    async with ica.client(TokenAuth(API_KEY, clock=clock)) as client:
        with pytest.raises(TokenError, match="/api/"):
            await client.get("https://ica.test/elsewhere")
    assert ica.requests == []


@pytest.mark.anyio
async def test_token_is_cached(ica: TokenServer, clock: Clock) -> None:
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        for _ in range(10):
            assert (await client.get(PROJECTS)).status_code == 200
    assert auth.mint_count == 1
    assert len(ica.calls("/api/tokens")) == 1


@pytest.mark.anyio
async def test_post_body_is_sent_and_replayed(ica: TokenServer, clock: Clock) -> None:
    first = True

    async def data(request: httpx.Request) -> httpx.Response:
        nonlocal first
        status = 401 if first else 200
        first = False
        return httpx.Response(status)

    ica.data_hook = data
    async with ica.client(TokenAuth(API_KEY, clock=clock)) as client:
        response = await client.post(PROJECTS + ":search", json={"status": ["FAILED"]})
    assert response.status_code == 200
    bodies = [r.content for r in ica.calls(":search")]
    assert bodies == [b'{"status":["FAILED"]}'] * 2


# -- renewal ahead of expiry ---------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("lifetime", "kwargs", "margin"),
    [
        (3600.0, {}, 300.0),  # capped by max_renew_margin
        (60.0, {}, 6.0),  # 10% of a short lifetime
        (1000.0, {"renew_fraction": 0.5, "max_renew_margin": 100.0}, 100.0),
        (1000.0, {"renew_fraction": 0.05, "max_renew_margin": 100.0}, 50.0),
        (1000.0, {"renew_fraction": 0.0}, 0.0),
    ],
)
async def test_renews_ahead_of_expiry(
    clock: Clock, lifetime: float, kwargs: dict[str, Any], margin: float
) -> None:
    ica = TokenServer(clock, lifetime=lifetime)
    auth = TokenAuth(API_KEY, clock=clock, **kwargs)
    async with ica.client(auth) as client:
        await client.get(PROJECTS)
        clock.now = T0 + lifetime - margin - 0.5
        await client.get(PROJECTS)
        assert auth.mint_count == 1
        clock.now = T0 + lifetime - margin
        await client.get(PROJECTS)
        assert auth.mint_count == 2
        assert auth.expires_at == clock.now + lifetime
        await client.get(PROJECTS)
        assert auth.mint_count == 2


@pytest.mark.anyio
async def test_api_key_token_is_minted_again_not_refreshed(ica: TokenServer, clock: Clock) -> None:
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        await client.get(PROJECTS)
        clock.now = T0 + 3500
        assert (await client.get(PROJECTS)).status_code == 200
    assert ica.calls("/api/tokens:refresh") == []
    assert len(ica.calls("/api/tokens")) == 2
    assert (auth.mint_count, auth.refresh_count) == (2, 0)


@pytest.mark.anyio
async def test_login_token_is_refreshed_while_valid(ica: TokenServer, clock: Clock) -> None:
    auth = TokenAuth(username=EMAIL, password=PASSWORD, tenant="acme", clock=clock)
    async with ica.client(auth) as client:
        await client.get(PROJECTS)
        clock.now = T0 + 3500
        assert (await client.get(PROJECTS)).status_code == 200
    refresh = ica.calls("/api/tokens:refresh")
    assert len(refresh) == 1
    assert refresh[0].method == "POST"
    assert str(refresh[0].url) == f"{BASE}/api/tokens:refresh"
    assert refresh[0].headers["authorization"] == f"Bearer {ica.issued[0]}"
    assert refresh[0].headers["accept"] == "application/vnd.illumina.v3+json"
    assert ica.calls("/workflowSessions")[-1].headers["authorization"] == (
        f"Bearer {ica.issued[1]}"
    )
    assert (auth.mint_count, auth.refresh_count) == (1, 1)
    assert auth.expires_at == T0 + 3500 + 3600


@pytest.mark.anyio
async def test_expired_login_token_is_minted_again(ica: TokenServer, clock: Clock) -> None:
    auth = TokenAuth(username=EMAIL, password=PASSWORD, clock=clock)
    async with ica.client(auth) as client:
        await client.get(PROJECTS)
        clock.now = T0 + 3600
        await client.get(PROJECTS)
    assert ica.calls("/api/tokens:refresh") == []
    assert (auth.mint_count, auth.refresh_count) == (2, 0)


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 403])
async def test_refused_refresh_falls_back_to_login(
    ica: TokenServer, clock: Clock, status: int
) -> None:
    async def refuse(request: httpx.Request) -> httpx.Response:
        return json_problem(status, "ICA_TOKEN_001")

    ica.refresh_hook = refuse
    auth = TokenAuth(username=EMAIL, password=PASSWORD, clock=clock)
    async with ica.client(auth) as client:
        await client.get(PROJECTS)
        clock.now = T0 + 3500
        assert (await client.get(PROJECTS)).status_code == 200
    assert len(ica.calls("/api/tokens:refresh")) == 1
    assert len(ica.calls("/api/tokens")) == 2
    assert (auth.mint_count, auth.refresh_count) == (2, 0)


@pytest.mark.anyio
async def test_refresh_server_error_is_raised(ica: TokenServer, clock: Clock) -> None:
    async def broken(request: httpx.Request) -> httpx.Response:
        return json_problem(503, "unavailable")

    ica.refresh_hook = broken
    auth = TokenAuth(username=EMAIL, password=PASSWORD, clock=clock)
    async with ica.client(auth) as client:
        await client.get(PROJECTS)
        clock.now = T0 + 3500
        with pytest.raises(ServerError) as info:
            await client.get(PROJECTS)
    assert info.value.status_code == 503
    assert len(ica.calls("/workflowSessions")) == 1


# -- single flight -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_single_flight_under_concurrency(ica: TokenServer, clock: Clock) -> None:
    release = anyio.Event()

    async def slow_mint(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json={"token": ica.issue()})

    ica.mint_hook = slow_mint
    auth = TokenAuth(API_KEY, clock=clock)
    statuses: list[int] = []

    async def one(client: httpx.AsyncClient) -> None:
        statuses.append((await client.get(PROJECTS)).status_code)

    async with ica.client(auth) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(one, client)
            await wait_all_tasks_blocked()
            release.set()
        assert statuses == [200] * 50
        assert auth.mint_count == 1
        assert len(ica.calls("/api/tokens")) == 1

        # Renewal ahead of expiry is single-flight too.
        clock.now = T0 + 3500
        release = anyio.Event()
        statuses.clear()
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(one, client)
            await wait_all_tasks_blocked()
            release.set()
    assert statuses == [200] * 50
    assert auth.mint_count == 2
    assert len(ica.calls("/api/tokens")) == 2


# -- 401 handling --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_401_renews_and_replays_once(ica: TokenServer, clock: Clock) -> None:
    rejected = True

    async def data(request: httpx.Request) -> httpx.Response:
        nonlocal rejected
        if rejected:
            rejected = False
            return httpx.Response(401)
        return httpx.Response(200)

    ica.data_hook = data
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        response = await client.get(PROJECTS)
    assert response.status_code == 200
    sent = [r.headers["authorization"] for r in ica.calls("/workflowSessions")]
    assert sent == [f"Bearer {ica.issued[0]}", f"Bearer {ica.issued[1]}"]
    assert auth.mint_count == 2


@pytest.mark.anyio
async def test_401_from_login_token_mints_without_refreshing(
    ica: TokenServer, clock: Clock
) -> None:
    statuses = iter([401, 200])

    async def data(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses))

    ica.data_hook = data
    auth = TokenAuth(username=EMAIL, password=PASSWORD, clock=clock)
    async with ica.client(auth) as client:
        assert (await client.get(PROJECTS)).status_code == 200
    # A token the server just rejected is not worth refreshing.
    assert ica.calls("/api/tokens:refresh") == []
    assert (auth.mint_count, auth.refresh_count) == (2, 0)


@pytest.mark.anyio
async def test_persistent_401_is_returned_not_looped(ica: TokenServer, clock: Clock) -> None:
    async def always_401(request: httpx.Request) -> httpx.Response:
        return json_problem(401, "ICA_AUTH_001")

    ica.data_hook = always_401
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        response = await client.get(PROJECTS)
        assert response.status_code == 401
        assert len(ica.calls("/workflowSessions")) == 2
        assert auth.mint_count == 2
        # The next request gets its own single replay, no more.
        assert (await client.get(PROJECTS)).status_code == 401
    assert len(ica.calls("/workflowSessions")) == 4
    assert auth.mint_count == 3


@pytest.mark.anyio
async def test_stale_401_replays_with_newer_token_without_minting(
    ica: TokenServer, clock: Clock
) -> None:
    go = anyio.Event()

    async def data(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        if request.url.path.endswith("/slow") and token == ica.issued[0]:
            await go.wait()
        return httpx.Response(200 if token == ica.issued[-1] else 401)

    ica.data_hook = data
    auth = TokenAuth(API_KEY, clock=clock)
    results: dict[str, int] = {}

    async def fetch(client: httpx.AsyncClient, name: str) -> None:
        results[name] = (await client.get(f"{BASE}/api/{name}")).status_code

    async with ica.client(auth) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch, client, "slow")
            await wait_all_tasks_blocked()  # /slow is in flight with token 0
            clock.now = T0 + 3500
            await fetch(client, "fast")  # renews to token 1
            assert auth.mint_count == 2
            go.set()  # /slow now gets a 401 for token 0
    assert results == {"slow": 200, "fast": 200}
    assert auth.mint_count == 2
    slow = [r.headers["authorization"] for r in ica.calls("/slow")]
    assert slow == [f"Bearer {ica.issued[0]}", f"Bearer {ica.issued[1]}"]


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, PermissionDeniedError), (500, ServerError)],
)
async def test_mint_error_status_raises_typed_error(
    ica: TokenServer, clock: Clock, status: int, error: type[Exception]
) -> None:
    async def fail(request: httpx.Request) -> httpx.Response:
        return json_problem(status, "ICA_API_004")

    ica.mint_hook = fail
    async with ica.client(TokenAuth(API_KEY, clock=clock)) as client:
        with pytest.raises(error) as info:
            await client.get(PROJECTS)
    assert "ICA_API_004" in str(info.value)
    assert API_KEY not in str(info.value)
    assert ica.calls("/workflowSessions") == []


@pytest.mark.anyio
async def test_mint_html_error_raises_typed_error(ica: TokenServer, clock: Clock) -> None:
    async def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad gateway</html>")

    ica.mint_hook = html
    async with ica.client(TokenAuth(API_KEY, clock=clock)) as client:
        with pytest.raises(ServerError):
            await client.get(PROJECTS)


def _bad_token_bodies() -> list[Any]:
    def raw_payload(payload: bytes) -> str:
        return f"{b64url(b'{}')}.{b64url(payload)}.{b64url(b'sig')}"

    return [
        b"not json",
        b"[1, 2]",
        {},
        {"token": None},
        {"token": ""},
        {"token": "SECRETabc"},
        {"token": "SECRET.abc"},
        {"token": "SECRET.a.b.c"},
        {"token": "SECRET.a b.c"},
        {"token": "SECRET.@@@@.c"},
        {"token": raw_payload(b"\xff\xfe")},
        {"token": raw_payload(b"not json")},
        {"token": raw_payload(b"[1]")},
        {"token": make_jwt(None, sub="SECRET")},
        {"token": make_jwt(sub="SECRET", exp="soon")},
        {"token": make_jwt(sub="SECRET", exp=True)},
        {"token": make_jwt(sub="SECRET", exp=None, nbf=1)},
        {"token": raw_payload(b'{"exp": Infinity}')},
        {"token": make_jwt(T0 - 10, sub="SECRET")},  # already expired by our clock
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("body", _bad_token_bodies())
async def test_malformed_token_is_a_token_error(ica: TokenServer, clock: Clock, body: Any) -> None:
    async def mint(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(200, content=body)
        return httpx.Response(200, json=body)

    ica.mint_hook = mint
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        with pytest.raises(TokenError) as info:
            await client.get(PROJECTS)
        assert len(ica.calls("/api/tokens")) == 1  # one attempt, no loop
        message = str(info.value)
        assert "SECRET" not in message
        # Decoder errors may hold the payload: they must not be chained.
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__
        if isinstance(body, dict) and isinstance(body.get("token"), str) and body["token"]:
            assert body["token"] not in message
        # The next request tries again, once.
        with pytest.raises(TokenError):
            await client.get(PROJECTS)
    assert len(ica.calls("/api/tokens")) == 2
    assert ica.calls("/workflowSessions") == []
    assert auth.mint_count == 0
    assert auth.expires_at is None


# -- secrecy -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_secrets_never_leak(
    ica: TokenServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    basic = base64.b64encode(f"{EMAIL}:{PASSWORD}".encode()).decode()
    statuses = iter([401, 200, 200, 200])

    async def data(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses))

    refusals = iter([401])

    async def refresh(request: httpx.Request) -> httpx.Response:
        status = next(refusals, 500)
        return json_problem(status, "refused")

    ica.data_hook = data
    ica.refresh_hook = refresh
    key_auth = TokenAuth(API_KEY, clock=clock)
    login = TokenAuth(username=EMAIL, password=PASSWORD, tenant="acme", clock=clock)
    texts = [repr(key_auth), str(key_auth), repr(login), str(login)]
    texts += [repr(ApiKeyAuth(API_KEY)), str(ApiKeyAuth(API_KEY))]
    texts += [repr(BearerAuth(make_jwt(T0))), str(BearerAuth(make_jwt(T0)))]
    async with ica.client(login) as client:
        await client.get(PROJECTS)  # mint, 401, mint, replay
        clock.now = T0 + 3500
        await client.get(PROJECTS)  # refresh refused -> mint
        clock.now = T0 + 7000
        with pytest.raises(ServerError) as info:
            await client.get(PROJECTS)  # refresh fails
        texts.append(str(info.value))
        texts.append(repr(info.value))
    ica.mint_hook = None
    async with ica.client(key_auth) as client:
        await client.get(PROJECTS)
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(login), repr(key_auth)]
    assert any("401" in record.getMessage() for record in caplog.records)
    secrets = [API_KEY, PASSWORD, basic, *ica.issued]
    secrets += [token.split(".")[1] for token in ica.issued]
    for text in texts:
        for secret in secrets:
            assert secret not in text


# -- cancellation --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelled_mint_releases_the_lock(ica: TokenServer, clock: Clock) -> None:
    never = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    ica.mint_hook = hang
    auth = TokenAuth(API_KEY, clock=clock)
    async with ica.client(auth) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, PROJECTS)
            tg.start_soon(client.get, PROJECTS)  # waits on the lock
            await wait_all_tasks_blocked()
            assert len(ica.calls("/api/tokens")) == 1
            tg.cancel_scope.cancel()
        assert auth.mint_count == 0
        ica.mint_hook = None
        with anyio.fail_after(5):
            response = await client.get(PROJECTS)
    assert response.status_code == 200
    assert auth.mint_count == 1


@pytest.mark.anyio
async def test_cancelled_minter_hands_over_to_waiter(ica: TokenServer, clock: Clock) -> None:
    release = anyio.Event()

    async def mint(request: httpx.Request) -> httpx.Response:
        if len(ica.calls("/api/tokens")) == 1:
            await anyio.sleep_forever()
        await release.wait()
        return httpx.Response(200, json={"token": ica.issue()})

    ica.mint_hook = mint
    auth = TokenAuth(API_KEY, clock=clock)
    results: list[int] = []

    async def fetch(client: httpx.AsyncClient) -> None:
        results.append((await client.get(PROJECTS)).status_code)

    async with ica.client(auth) as client, anyio.create_task_group() as tg:
        with anyio.CancelScope() as first:
            async with anyio.create_task_group() as inner:
                inner.start_soon(fetch, client)
                await wait_all_tasks_blocked()
                tg.start_soon(fetch, client)
                tg.start_soon(fetch, client)
                await wait_all_tasks_blocked()
                first.cancel()
        await wait_all_tasks_blocked()
        release.set()
    assert results == [200, 200]
    assert auth.mint_count == 1
    assert len(ica.calls("/api/tokens")) == 2
