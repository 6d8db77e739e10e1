"""Credentials: never shown, never logged, never sent to another origin; TLS; JWT parsing.

Every test uses a recognisable secret (an API key, a JWT, a password) and checks that it does
not surface where it should not: reprs, error messages, log records, redirect hops.
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aioica
from tests.support.jwt import b64url, make_jwt
from tests.support.payloads import SID

BASE = "https://ica.example.org/ica/rest"
INPUTS = f"/ica/rest/api/projects/p/workflowSessions/{SID}/inputs"
KEY = "sekret-api-key-0123456789"
USER = "someone@example.org"
PASSWORD = "pa55word-that-is-secret"
EVIL = "https://evil.example.net/steal"
COOKIE = "cookie-secret-0123456789"

Respond = Callable[[httpx.Request], httpx.Response]


JWT = make_jwt(sub="someone")
SECRETS = (KEY, JWT, PASSWORD, COOKIE)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    # Encoded forms give a secret away as well: a JWT's payload, a Basic login.
    assert JWT.split(".")[1] not in text
    assert BASIC.split()[1] not in text


def ok(data: Any = None, status: int = 200, **headers: str) -> httpx.Response:
    body = {"items": [], "nextPageToken": None} if data is None else data
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/vnd.illumina.v3+json", **headers},
    )


def tokens_then(respond: Respond, token: str = JWT) -> Respond:
    """Answer ``POST /api/tokens`` with ``token``; everything else with ``respond``."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/tokens"):
            return ok({"token": token})
        return respond(request)

    return answer


@asynccontextmanager
async def open_session(
    respond: Respond = lambda _: ok(),
    *,
    client_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> AsyncIterator[tuple[aioica.Session, list[httpx.Request]]]:
    sent: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return respond(request)

    if "auth" not in kwargs:
        kwargs["auth"] = aioica.ApiKeyAuth(KEY)
    kwargs.setdefault("retry", aioica.RetryPolicy.none())
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler), **(client_kwargs or {})) as c,
        aioica.Session(base_url=BASE, http_client=c, **kwargs) as ica,
    ):
        yield ica, sent


BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def carries_credentials(request: httpx.Request) -> bool:
    """Whether ``request`` carries any of our credentials.

    An ``Authorization`` header that is neither a bearer token nor our login does not count:
    httpx derives one from userinfo a hostile ``Location`` may carry, which holds nothing of ours.
    """
    if {k.lower() for k in request.headers} & {"x-api-key", "cookie", "proxy-authorization"}:
        return True
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("Bearer ") or authorization == BASIC:
        return True
    blob = str(request.url) + " ".join(request.headers.values())
    return any(secret in blob for secret in SECRETS)


AUTHS: dict[str, Callable[[], httpx.Auth]] = {
    "api-key": lambda: aioica.ApiKeyAuth(KEY),
    "bearer": lambda: aioica.BearerAuth(JWT),
    "token(api-key)": lambda: aioica.TokenAuth(KEY),
    "token(basic)": lambda: aioica.TokenAuth(username=USER, password=PASSWORD, tenant="acme"),
}


# -- repr / str ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(AUTHS))
def test_auth_objects_never_show_their_secret(name: str) -> None:
    auth = AUTHS[name]()
    for text in (repr(auth), str(auth), f"{auth!r:>10}", repr([auth]), repr({"a": auth})):
        assert_no_secret(text)
    session = aioica.Session(auth=auth, base_url=BASE)
    assert_no_secret(repr(session))
    assert_no_secret(str(session))


def test_session_from_env_never_shows_secrets() -> None:
    for env in (
        {"ICAV2_X_API_KEY": KEY, "ICAV2_BASE_URL": BASE},
        {"ICAV2_ACCESS_TOKEN": JWT, "ICAV2_X_API_KEY": KEY, "ICAV2_SERVER_URL": "ica.example.org"},
    ):
        session = aioica.Session.from_env(environ=env)
        assert_no_secret(repr(session))
        assert_no_secret(repr(session.auth))


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AUTHS))
async def test_reprs_after_use_never_show_secrets(name: str) -> None:
    auth = AUTHS[name]()
    async with open_session(tokens_then(lambda _: ok()), auth=auth) as (ica, _):
        result = await ica.get_workflow_session_inputs_with_http_info("p", SID)
        page = await ica.search_workflow_sessions("p")
        paginator = ica.search_workflow_sessions("p")
        for obj in (ica, auth, result, page, paginator, ica.retry, aioica.RetryPolicy.none()):
            assert_no_secret(repr(obj))
            assert_no_secret(str(obj))
    assert_no_secret(repr(ica))


def test_configuration_errors_never_show_the_key() -> None:
    with pytest.raises(aioica.ConfigurationError) as info:
        aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url="http://ica.example.org/ica/rest")
    assert_no_secret(str(info.value))
    with pytest.raises(aioica.ConfigurationError) as info:
        aioica.Session(auth=KEY, base_url=BASE)  # type: ignore[arg-type]
    assert_no_secret(str(info.value))
    with pytest.raises(aioica.ConfigurationError) as info:
        aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url=f"{BASE}?apikey={KEY}")
    assert_no_secret(str(info.value))


def test_base_url_with_credentials_is_refused_without_echo() -> None:
    with pytest.raises(aioica.ConfigurationError, match="credentials") as info:
        aioica.Session(
            auth=aioica.ApiKeyAuth(KEY), base_url=f"https://me:{PASSWORD}@ica.example.org/ica/rest"
        )
    assert PASSWORD not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        f"htps://me:{PASSWORD}@ica.example.org/ica/rest",
        f"https://me:{PASSWORD}@",
        f"ftp://me:{PASSWORD}@ica.example.org/ica/rest",
    ],
    ids=["typo-scheme", "no-host", "ftp"],
)
def test_malformed_base_url_never_echoes_its_password(url: str) -> None:
    with pytest.raises(aioica.ConfigurationError) as info:
        aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url=url)
    assert PASSWORD not in str(info.value)


# -- error messages -------------------------------------------------------------------------------


def _problem(status: int, detail: str = "denied", **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": "ICA_API_004", "status": status, "detail": detail}
    return ok({**body, **extra}, status, **{"Content-Type": "application/problem+json"})


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AUTHS))
@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503])
async def test_error_messages_never_show_credentials(name: str, status: int) -> None:
    async with open_session(tokens_then(lambda _: _problem(status)), auth=AUTHS[name]()) as (
        ica,
        _,
    ):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    err = info.value
    assert err.status_code == status
    for text in (str(err), repr(err), repr(err.request), repr(err.response), repr(err.problem)):
        assert_no_secret(text)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["token(api-key)", "token(basic)"])
@pytest.mark.parametrize("status", [400, 401, 403, 500])
async def test_failed_mint_errors_never_show_credentials(name: str, status: int) -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/tokens"):
            return _problem(status, "invalid credentials")
        return ok()

    async with open_session(respond, auth=AUTHS[name]()) as (ica, sent):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert info.value.status_code == status
    assert_no_secret(str(info.value))
    assert_no_secret(repr(info.value))
    assert [r.url.path for r in sent] == ["/ica/rest/api/tokens"]


ECHOES: dict[str, tuple[str, Callable[[str], httpx.Response]]] = {
    "problem-detail": ("api-key", lambda s: _problem(401, f"API key {s} is not valid")),
    "problem-title": ("api-key", lambda s: _problem(403, "no", title=f"bad key {s}")),
    "problem-parameters": ("api-key", lambda s: _problem(400, "bad", parameters={"X-API-Key": s})),
    "html-page": (
        "api-key",
        lambda s: httpx.Response(403, html=f"<html><body><p>Denied for {s}</p></body></html>"),
    ),
    "plain-text": ("api-key", lambda s: httpx.Response(502, text=f"upstream rejected key={s}")),
    "bearer-detail": ("bearer", lambda s: _problem(401, f"token {s} expired")),
    "mint-api-key": ("token(api-key)", lambda s: _problem(401, f"unknown API key {s}")),
    "mint-password": ("token(basic)", lambda s: _problem(401, f"wrong password {s}")),
}
ECHOED_SECRET = {"api-key": KEY, "bearer": JWT, "token(api-key)": KEY, "token(basic)": PASSWORD}


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(ECHOES))
async def test_server_echo_of_a_secret_is_redacted(case: str) -> None:
    name, response = ECHOES[case]
    secret = ECHOED_SECRET[name]
    async with open_session(lambda _: response(secret), auth=AUTHS[name]()) as (ica, _):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert secret not in str(info.value)
    assert secret not in repr(info.value)


# Every credential the session holds is masked, whichever endpoint echoes it: a data endpoint
# echoing the API key (or password) behind a minted JWT never saw that key in its request.
HELD_ECHOES = {
    "token(api-key)": KEY,
    "token(basic)": PASSWORD,
    "token(basic)-header": BASIC.split()[1],
}


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 500])
@pytest.mark.parametrize("case", sorted(HELD_ECHOES))
async def test_data_endpoint_echo_of_a_held_credential_is_redacted(case: str, status: int) -> None:
    secret = HELD_ECHOES[case]
    auth = AUTHS[case.removesuffix("-header")]()
    echo = lambda _: _problem(  # noqa: E731
        status,
        f"we got {secret} and {JWT}",
        title=f"bad {secret}",
        parameters={"key": secret},
        instance=f"/x/{secret}",
    )
    async with open_session(tokens_then(echo), auth=auth) as (ica, sent):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert sent[-1].url.path == INPUTS and secret not in str(sent[-1].headers)
    for text in (str(info.value), repr(info.value), repr(info.value.problem)):
        assert secret not in text
        assert JWT not in text
    assert info.value.problem is not None and "***" in (info.value.problem.detail or "")


@pytest.mark.anyio
@pytest.mark.parametrize("offset", [0, 150, 155, 2040, 2045, 2050])
@pytest.mark.parametrize("field", ["html", "detail", "request-id"])
async def test_no_cut_of_server_text_leaves_part_of_a_credential(offset: int, field: str) -> None:
    text = "x" * offset + KEY + "y" * 3000
    if field == "html":
        response = httpx.Response(502, html=f"<html><body>{text}</body></html>")
    elif field == "detail":
        response = _problem(500, "z" * (1500 - offset % 1500 - 10) + text)
    else:
        response = httpx.Response(500, text="oops", headers={"X-Request-Id": "r" * 190 + KEY})
    async with open_session(lambda _: response) as (ica, _):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert KEY[:6] not in str(info.value)


@pytest.mark.anyio
async def test_echo_of_the_callers_client_credentials_is_redacted() -> None:
    # The session's auth replaces the client's, so the request never carried the password.
    echo = lambda _: _problem(403, f"key {KEY} and password {PASSWORD}")  # noqa: E731
    async with open_session(echo, client_kwargs={"auth": (USER, PASSWORD)}) as (ica, sent):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert "authorization" not in sent[0].headers
    assert KEY not in str(info.value)
    assert PASSWORD not in str(info.value)


@pytest.mark.anyio
async def test_echo_of_a_proxy_authorization_header_is_redacted() -> None:
    # A header the caller's client sends (for a proxy it reaches through) is a credential too.
    echo = lambda r: _problem(502, f"got {r.headers['proxy-authorization']} ({PASSWORD})")  # noqa: E731
    client_kwargs = {"headers": {"Proxy-Authorization": BASIC}}
    async with open_session(echo, client_kwargs=client_kwargs) as (ica, sent):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert sent[0].headers["proxy-authorization"] == BASIC
    assert "got ***" in str(info.value)
    assert BASIC.split()[1] not in str(info.value) and PASSWORD not in str(info.value)


@pytest.mark.anyio
async def test_connection_errors_never_show_credentials() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with open_session(
        respond, retry=aioica.RetryPolicy(max_attempts=2, backoff_base=0.0)
    ) as (ica, sent):
        with pytest.raises(aioica.APIConnectionError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert len(sent) == 2
    assert_no_secret(str(info.value))
    assert all(KEY not in str(e) for e in info.value.history)


@pytest.mark.parametrize(
    "secret", ["abc\r\nX-Evil: 1", "key\x00", "k\ney", "\u043a\u043b\u044e\u0447"]
)
@pytest.mark.parametrize("make", ["api-key", "bearer", "token(api-key)"])
def test_credentials_that_cannot_be_header_values_fail_at_construction(
    make: str, secret: str
) -> None:
    factory: Callable[[str], httpx.Auth] = {
        "api-key": aioica.ApiKeyAuth,
        "bearer": aioica.BearerAuth,
        "token(api-key)": aioica.TokenAuth,
    }[make]
    with pytest.raises(ValueError) as info:
        factory(secret)
    assert secret not in str(info.value)


# -- logging ---------------------------------------------------------------------------------------


def _check_records(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged at DEBUG"
    for record in caplog.records:
        assert_no_secret(record.getMessage())
        assert_no_secret(repr(record.args))
    assert_no_secret(caplog.text)


def _flaky(first: httpx.Response) -> Respond:
    calls: list[int] = []

    def respond(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return first if len(calls) == 1 else ok()

    return respond


def _raising_once() -> Respond:
    calls: list[int] = []

    def respond(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return ok()

    return respond


LOG_SCENARIOS: dict[str, tuple[Callable[[], Respond], type[Exception] | None]] = {
    "success": (lambda: lambda _: ok(), None),
    "retried-503": (lambda: _flaky(_problem(503)), None),
    "retried-connect-error": (lambda: _raising_once(), None),
    "failed-401": (lambda: lambda _: _problem(401), aioica.AuthenticationError),
    "failed-html-500": (
        lambda: lambda _: httpx.Response(500, html="<p>oops</p>"),
        aioica.ServerError,
    ),
    "same-origin-redirect": (lambda: redirecting(f"{BASE}/api/projects/p/moved"), None),
    "cross-origin-redirect": (lambda: redirecting(EVIL), None),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AUTHS))
async def test_debug_logs_never_show_credentials(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: aioica's, httpx's, httpcore's
    for make, error in LOG_SCENARIOS.values():
        async with open_session(
            tokens_then(make()),
            auth=AUTHS[name](),
            retry=aioica.RetryPolicy(max_attempts=2, backoff_base=0.0),
            follow_redirects=True,
        ) as (ica, _):
            if error is None:
                await ica.get_workflow_session_inputs("p", SID)
            else:
                with pytest.raises(error):
                    await ica.get_workflow_session_inputs("p", SID)
    _check_records(caplog)
    # What is logged is useful: method, path and status of each request.
    messages = [r.getMessage() for r in caplog.records if r.name == "aioica"]
    for status in ("200", "503", "401", "500", "302", "no response"):
        assert any(m.startswith(f"GET {INPUTS} -> {status}") for m in messages), status


@pytest.mark.anyio
async def test_logged_exceptions_never_show_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("tests.app")
    async with open_session(tokens_then(lambda _: _problem(401)), auth=AUTHS["token(basic)"]()) as (
        ica,
        _,
    ):
        try:
            await ica.get_workflow_session_inputs("p", SID)
        except aioica.APIError:
            log.exception("the call failed")
    _check_records(caplog)
    assert "AuthenticationError" in caplog.text


# -- redirects -------------------------------------------------------------------------------------


def redirecting(location: str, status: int = 302) -> Respond:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/inputs") or request.url.path.endswith(":search"):
            return httpx.Response(status, headers={"Location": location})
        return ok()

    return respond


CROSS_ORIGIN = {
    "other-host": EVIL,
    "other-port": "https://ica.example.org:8443/ica/rest/x",
    "http-downgrade": "http://ica.example.org/ica/rest/x",
    "scheme-relative": "//evil.example.net/x",
}
# Locations that are never followed: a server must not pick credentials for the next hop, nor
# lead anywhere but to an http(s) URL.
REFUSED_LOCATIONS = {
    "userinfo-trick": "https://ica.example.org@evil.example.net/x",
    "user-and-password": "https://user:pa55word@evil.example.net/x",
    "same-host-userinfo": "https://someone@ica.example.org/ica/rest/x",
    "file-scheme": "file:///etc/passwd",
    "port-out-of-range": "https://evil.example.net:99999/x",
}
SAME_ORIGIN = {
    "absolute": f"{BASE}/api/projects/p/elsewhere",
    "relative": "elsewhere",
    "root-relative": "/ica/rest/api/projects/p/elsewhere",
    "explicit-port": "https://ica.example.org:443/ica/rest/api/projects/p/x",
}


@pytest.mark.anyio
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_not_followed_by_default(status: int) -> None:
    async with open_session(redirecting(EVIL, status)) as (ica, sent):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert info.value.status_code == status
    assert len(sent) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AUTHS))
@pytest.mark.parametrize("target", sorted(CROSS_ORIGIN))
async def test_cross_origin_hop_carries_no_credentials(name: str, target: str) -> None:
    async with open_session(
        tokens_then(redirecting(CROSS_ORIGIN[target])), auth=AUTHS[name](), follow_redirects=True
    ) as (ica, sent):
        await ica.get_workflow_session_inputs("p", SID)
    first, hop = sent[-2:]
    assert first.url.path == INPUTS and carries_credentials(first)
    assert (hop.url.scheme, hop.url.host, hop.url.port) != ("https", "ica.example.org", None)
    assert not carries_credentials(hop)


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AUTHS))
@pytest.mark.parametrize("target", sorted(REFUSED_LOCATIONS))
async def test_redirect_with_credentials_or_odd_scheme_is_refused(name: str, target: str) -> None:
    async with open_session(
        tokens_then(redirecting(REFUSED_LOCATIONS[target])),
        auth=AUTHS[name](),
        follow_redirects=True,
    ) as (ica, sent):
        with pytest.raises(aioica.InvalidResponseError, match="refusing to follow") as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert sent[-1].url.path == INPUTS  # nothing sent to the Location
    assert info.value.response is not None and info.value.response.status_code == 302
    assert_no_secret(str(info.value))


@pytest.mark.anyio
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_cross_origin_hop_of_a_post_search_carries_no_credentials(status: int) -> None:
    async with open_session(redirecting(EVIL, status), follow_redirects=True) as (ica, sent):
        await ica.search_workflow_sessions("p", analysis_query_parameters={"reference": "r"})
    first, hop = sent
    assert first.method == "POST" and carries_credentials(first)
    assert hop.method == ("GET" if status == 303 else "POST")
    assert not carries_credentials(hop)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "setup", ["default-header", "client-auth", "client-cookie", "proxy-authorization"]
)
async def test_cross_origin_hop_drops_the_callers_client_credentials(setup: str) -> None:
    client_kwargs: dict[str, Any] = {
        "default-header": {"headers": {"X-API-Key": KEY}},
        "client-auth": {"auth": aioica.ApiKeyAuth(KEY)},
        "client-cookie": {"cookies": {"JSESSIONID": COOKIE}},
        "proxy-authorization": {"headers": {"X-API-Key": KEY, "Proxy-Authorization": BASIC}},
    }[setup]
    async with open_session(
        redirecting(EVIL), auth=None, client_kwargs=client_kwargs, follow_redirects=True
    ) as (ica, sent):
        await ica.get_workflow_session_inputs("p", SID)
    first, hop = sent
    assert carries_credentials(first)
    assert not carries_credentials(hop)


@pytest.mark.anyio
@pytest.mark.parametrize("follow", [False, True])
async def test_callers_client_that_follows_redirects_cannot_leak_the_key(follow: bool) -> None:
    async with open_session(
        redirecting(EVIL), client_kwargs={"follow_redirects": True}, follow_redirects=follow
    ) as (ica, sent):
        try:
            await ica.get_workflow_session_inputs("p", SID)
            status = None
        except aioica.APIStatusError as exc:
            status = exc.status_code
    assert status == (None if follow else 302)
    assert not any(carries_credentials(r) for r in sent if r.url.host != "ica.example.org")
    if not follow:
        assert len(sent) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AUTHS))
@pytest.mark.parametrize("target", sorted(SAME_ORIGIN))
async def test_same_origin_hop_keeps_auth(name: str, target: str) -> None:
    async with open_session(
        tokens_then(redirecting(SAME_ORIGIN[target])), auth=AUTHS[name](), follow_redirects=True
    ) as (ica, sent):
        await ica.get_workflow_session_inputs("p", SID)
    hop = sent[-1]
    assert hop.url.host == "ica.example.org"
    assert hop.url.path != INPUTS
    assert carries_credentials(hop)


@pytest.mark.anyio
async def test_hop_back_to_ica_after_leaving_it_stays_anonymous() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path == INPUTS:
            return httpx.Response(302, headers={"Location": EVIL})
        if request.url.host == "evil.example.net":
            return httpx.Response(302, headers={"Location": f"{BASE}/api/back"})
        return ok()

    async with open_session(respond, follow_redirects=True) as (ica, sent):
        await ica.get_workflow_session_inputs("p", SID)
    assert [carries_credentials(r) for r in sent] == [True, False, False]


@pytest.mark.anyio
async def test_redirect_loop_ends_with_an_error() -> None:
    async with open_session(redirecting(INPUTS), follow_redirects=True) as (ica, sent):
        with pytest.raises(aioica.APIStatusError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    assert info.value.status_code == 302
    assert len(sent) <= 10


# -- TLS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://ica.illumina.com/ica/rest",
        "http://ica.example.org",
        "http://10.0.0.1:8080/ica/rest",
        "http://0.0.0.0/ica/rest",
        "http://localhost.evil.example/ica/rest",
        "http://127.0.0.1.nip.io/ica/rest",
        "http://[::ffff:8.8.8.8]/ica/rest",
        "HTTP://ICA.EXAMPLE.ORG/ica/rest",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(aioica.ConfigurationError, match="allow_insecure_http"):
        aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url=url)
    session = aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url=url, allow_insecure_http=True)
    assert session.base_url.lower().startswith("http://")


@pytest.mark.parametrize(
    "env",
    [
        {"ICAV2_BASE_URL": "http://ica.example.org/ica/rest"},
        {"ICAV2_SERVER_URL": "http://ica.example.org"},
    ],
)
def test_plain_http_from_the_environment_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(aioica.ConfigurationError, match="allow_insecure_http"):
        aioica.Session.from_env(environ={"ICAV2_X_API_KEY": KEY, **env})


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8000/ica/rest", "http://127.0.0.1/ica/rest", "http://[::1]:9/ica/rest"],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    assert aioica.Session(auth=aioica.ApiKeyAuth(KEY), base_url=url).base_url == url


@pytest.mark.anyio
async def test_allow_insecure_http_sends_to_the_http_url() -> None:
    sent: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return ok()

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
        aioica.Session(
            auth=aioica.ApiKeyAuth(KEY),
            base_url="http://ica.internal.example/ica/rest",
            http_client=client,
            allow_insecure_http=True,
        ) as ica,
    ):
        await ica.get_workflow_session_inputs("p", SID)
    assert str(sent[0].url).startswith("http://ica.internal.example/ica/rest/api/projects/p/")


def _ssl_contexts(client: httpx.AsyncClient) -> list[ssl.SSLContext]:
    """The SSL contexts of a session-owned client's transport (private attributes, on purpose:
    this is the only way to see what the connections will use)."""
    transport: Any = client._transport
    inner = getattr(transport, "_inner", None) or transport
    if hasattr(inner, "_ssl"):  # the aiohttp-backed transport
        return [inner._ssl]
    return [pool._pool._ssl_context for pool in inner._pools]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["httpx", "auto"])
async def test_certificate_verification_is_on_by_default(kind: str) -> None:
    async with aioica.Session(auth=aioica.ApiKeyAuth(KEY), transport=kind) as ica:
        assert ica._client is not None
        contexts = _ssl_contexts(ica._client)
    assert contexts
    for ctx in contexts:
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.check_hostname is True
        assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.anyio
async def test_disabling_verification_is_an_explicit_choice() -> None:
    async with aioica.Session(auth=aioica.ApiKeyAuth(KEY), transport="httpx", verify=False) as ica:
        assert ica._client is not None
        contexts = _ssl_contexts(ica._client)
    assert all(ctx.verify_mode == ssl.CERT_NONE for ctx in contexts)


# -- the JWT --------------------------------------------------------------------------------------


def _token_session(token: str, **kwargs: Any) -> Any:
    kwargs.setdefault("auth", aioica.TokenAuth(KEY))
    return open_session(tokens_then(lambda _: ok(), token=token), **kwargs)


MALFORMED = {
    "not-a-jwt": "garbage",
    "two-parts": "a.b",
    "four-parts": "a.b.c.d",
    "empty-payload": "e30..sig",
    "not-base64": "e30.!!!!.sig",
    "not-json": "e30." + b64url(b"hello") + ".sig",
    "not-utf8": "e30." + b64url(bytes([0xFF, 0xFE, 0x00])) + ".sig",
    "array": "e30." + b64url(b"[1, 2]") + ".sig",
    "no-exp": "e30." + b64url(b"{}") + ".sig",
    "exp-string": "e30." + b64url(b'{"exp": "tomorrow"}') + ".sig",
    "exp-bool": "e30." + b64url(b'{"exp": true}') + ".sig",
    "exp-infinite": "e30." + b64url(b'{"exp": Infinity}') + ".sig",
    "exp-nan": "e30." + b64url(b'{"exp": NaN}') + ".sig",
    "expired": make_jwt(exp=1_000_000),
    "exp-negative": make_jwt(exp=-5),
    "exp-huge-int": "e30." + b64url(b'{"exp": 1' + b"0" * 400 + b"}") + ".sig",
    "exp-beyond-float": "e30." + b64url(b'{"exp": 1e400}') + ".sig",
    "exp-year-30000": make_jwt(exp=1e12),
    "exp-1e300": make_jwt(exp=1e300),
    "header-injection": "e30.e30.sig\r\nX-Evil: 1",
    "empty": "",
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_jwt_is_a_clear_error_not_a_loop(case: str) -> None:
    token = MALFORMED[case]
    async with _token_session(token, retry=aioica.RetryPolicy(backoff_base=0.0)) as (ica, sent):
        for _ in range(2):
            with pytest.raises(aioica.TokenError) as info:
                await ica.get_workflow_session_inputs("p", SID)
            message = str(info.value)
            assert "token" in message.lower() or "jwt" in message.lower()
            if len(token) >= 8:
                assert token not in message
    # One mint per call, nothing retried, nothing else sent.
    assert [r.url.path for r in sent] == ["/ica/rest/api/tokens"] * 2


@pytest.mark.anyio
async def test_jwt_is_read_without_checking_its_signature() -> None:
    token = make_jwt(scope="anything").rsplit(".", 1)[0] + ".not-a-real-signature"
    auth = aioica.TokenAuth(KEY)
    async with _token_session(token, auth=auth) as (ica, sent):
        await ica.get_workflow_session_inputs("p", SID)
    assert auth.expires_at == 4_102_444_800
    assert sent[-1].headers["Authorization"] == f"Bearer {token}"
    assert_no_secret(repr(auth))


MARK = "MARKER"
jwt_parts = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
claims = st.dictionaries(
    st.sampled_from(["exp", "iat", "sub", MARK]),
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
)
tokens = st.one_of(
    st.text(max_size=64).map(lambda t: MARK + t),
    st.tuples(jwt_parts, jwt_parts, jwt_parts).map(lambda p: f"{p[0]}.{MARK}{p[1]}.{p[2]}"),
    st.tuples(jwt_parts, claims).map(
        lambda p: f"{p[0]}.{b64url(json.dumps({**p[1], MARK: 1}).encode())}.sig"
    ),
)


@pytest.mark.anyio
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=tokens)
async def test_any_minted_token_gives_a_token_error_or_works(token: str) -> None:
    async with _token_session(token) as (ica, sent):
        try:
            await ica.get_workflow_session_inputs("p", SID)
            message = None
        except aioica.TokenError as exc:
            message = str(exc)
    if message is not None:
        assert MARK not in message
        assert len(sent) == 1
    else:
        assert sent[-1].headers["Authorization"] == f"Bearer {token}"
