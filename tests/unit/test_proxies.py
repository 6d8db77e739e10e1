"""Proxies from the environment: httpx's rules, applied to a session's own transports."""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketStream

import aioica
from aioica._compat import transport_for_url
from aioica._transports import PooledTransport, environment_proxies, session_proxy_mounts
from aioica.testing import Dataset, FakeICA, serve

SID = "0b0f3b5e-8a53-4cf5-9c1e-2d8f0f0a1b2c"


@pytest.fixture(autouse=True)
def not_cgi(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib ignores HTTP_PROXY under CGI (REQUEST_METHOD set); the shared conftest clears the
    # proxy variables themselves.
    monkeypatch.delenv("REQUEST_METHOD", raising=False)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, {}),
        ({"HTTPS_PROXY": "http://proxy:3128"}, {"https://": "http://proxy:3128"}),
        ({"https_proxy": "proxy:3128"}, {"https://": "http://proxy:3128"}),
        (
            {"HTTP_PROXY": "http://a:1", "ALL_PROXY": "socks5://b:2"},
            {"http://": "http://a:1", "all://": "socks5://b:2"},
        ),
        (
            {
                "HTTPS_PROXY": "http://p:1",
                "NO_PROXY": "example.com, .corp.test,10.0.0.1,::1,localhost,http://x.test",
            },
            {
                "https://": "http://p:1",
                "all://*example.com": None,
                "all://*.corp.test": None,
                "all://10.0.0.1": None,
                "all://[::1]": None,
                "all://localhost": None,
                "http://x.test": None,
            },
        ),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, {}),
    ],
)
def test_environment_variables_map_as_httpx_maps_them(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: dict[str, str | None]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert environment_proxies() == expected


def mounts_for(base_url: str, *, trust_env: bool = True) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(204)),
        mounts=session_proxy_mounts(max_connections=8, base_url=base_url, trust_env=trust_env),
    )


@pytest.mark.anyio
async def test_which_urls_go_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".internal.corp")
    async with mounts_for("https://ica.illumina.com/ica/rest") as client:
        proxied = transport_for_url(client, httpx.URL("https://ica.illumina.com/ica/rest/api"))
        assert isinstance(proxied, PooledTransport)
        # One transport per proxy, whatever the schemes mounted on it.
        assert transport_for_url(client, httpx.URL("http://elsewhere.test/")) is proxied
        direct = transport_for_url(client, httpx.URL("https://a.internal.corp/x"))
        assert isinstance(direct, httpx.MockTransport)
    # A loopback base_url always goes direct (the fake ICA, a local tunnel).
    for base in ("http://127.0.0.2:8080/ica/rest", "http://localhost:1/r", "http://[::1]:5/r"):
        async with mounts_for(base) as client:
            url = httpx.URL(base)
            assert isinstance(transport_for_url(client, url), httpx.MockTransport)
    async with mounts_for("https://ica.illumina.com", trust_env=False) as client:
        url = httpx.URL("https://ica.illumina.com/")
        assert isinstance(transport_for_url(client, url), httpx.MockTransport)


@pytest.mark.parametrize("proxy", ["ftp://user:s3cret@proxy.corp:21", "socks5://user:s3cret@p:1"])
def test_an_unusable_proxy_is_a_configuration_error_without_its_password(
    monkeypatch: pytest.MonkeyPatch, proxy: str
) -> None:
    if proxy.startswith("socks") and importlib.util.find_spec("socksio") is not None:
        pytest.skip("socksio is installed: a SOCKS proxy is usable")
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    with pytest.raises(aioica.ConfigurationError) as info:
        session_proxy_mounts(max_connections=4, base_url="https://ica.illumina.com")
    message = str(info.value)
    assert "HTTPS_PROXY" in message and "trust_env=False" in message
    assert "s3cret" not in message and info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.anyio
async def test_a_session_with_an_unusable_proxy_does_not_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "ftp://user:s3cret@proxy.corp:21")
    session = aioica.Session(auth=aioica.ApiKeyAuth("key"))
    with pytest.raises(aioica.ConfigurationError, match="HTTPS_PROXY"):
        await session.__aenter__()
    with pytest.raises(aioica.SessionClosedError):
        await session.get_workflow_session_inputs("p", SID)
    # The same machine with the environment ignored: the session opens.
    async with aioica.Session(auth=aioica.ApiKeyAuth("key"), trust_env=False):
        pass


@asynccontextmanager
async def recording_proxy(
    answer: bytes, *, status: bytes = b"200 OK", echo: bool = False
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A plain-HTTP forward proxy on loopback that records each request head and answers
    (``echo``: with the head it was sent after the answer, as some error pages do)."""
    heads: list[bytes] = []

    async def handle(stream: SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            head = data.split(b"\r\n\r\n")[0]
            heads.append(head)
            body = answer + (head if echo else b"")
            await stream.send(
                b"HTTP/1.1 %s\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body)
            )

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield port, heads
        finally:
            tg.cancel_scope.cancel()


@pytest.fixture(params=["auto", "httpx"])
def transport(request: pytest.FixtureRequest, anyio_backend: str) -> str:
    """The session's transport choice; 'auto' on trio is the pooled httpx one, the other case."""
    if request.param == "auto" and anyio_backend == "trio":
        pytest.skip("'auto' is the pooled httpx transport on trio: the other case")
    return str(request.param)


def proxied_session(transport: str, **kwargs: Any) -> aioica.Session:
    """A session for a remote plain-HTTP ICA, which goes through the environment's proxy."""
    return aioica.Session(
        auth=aioica.ApiKeyAuth("key"),
        base_url="http://ica.example.test/ica/rest",
        allow_insecure_http=True,
        transport=transport,  # type: ignore[arg-type]
        **kwargs,
    )


@pytest.mark.anyio
async def test_requests_go_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    answer = json.dumps({"items": [{"code": "ref"}]}).encode()
    async with recording_proxy(answer) as (port, heads):
        monkeypatch.setenv("HTTP_PROXY", f"http://user:s3cret@127.0.0.1:{port}")
        async with proxied_session(transport) as ica:
            inputs = await ica.get_workflow_session_inputs("p", SID)
            assert "s3cret" not in repr(ica)
    assert [i.code for i in inputs.items] == ["ref"]
    (head,) = heads
    request_line, *header_lines = head.decode().split("\r\n")
    # Absolute-form request to the proxy, which resolves ica.example.test itself.
    assert request_line == (
        f"GET http://ica.example.test/ica/rest/api/projects/p/workflowSessions/{SID}/inputs "
        "HTTP/1.1"
    )
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert headers["X-API-Key"] == "key"


@pytest.mark.anyio
async def test_a_loopback_session_goes_direct_with_a_proxy_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeICA(Dataset(seed=3, sessions=2))
    async with recording_proxy(b"{}") as (port, heads), serve(fake) as url:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{port}")
        async with aioica.Session(auth=aioica.ApiKeyAuth(fake.api_key), base_url=url) as ica:
            sessions = [s async for s in ica.search_workflow_sessions("demo-project")]
    assert len(sessions) == 2
    assert heads == []


@pytest.mark.anyio
async def test_a_proxy_echoing_its_credentials_never_gets_them_into_error_text(
    monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    password = "pr0xy-p@ss"
    page = f"Bad gateway. Your proxy password is {password}.\n".encode()
    async with recording_proxy(page, status=b"502 Bad Gateway", echo=True) as (port, heads):
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pr0xy-p%40ss@127.0.0.1:{port}")
        async with proxied_session(transport, retry=aioica.RetryPolicy(max_attempts=1)) as ica:
            with pytest.raises(aioica.APIStatusError) as caught:
                await ica.get_workflow_session_inputs("p", SID)
    basic = base64.b64encode(f"user:{password}".encode()).decode()
    # The proxy did get (and echo) the credentials; the error shows neither form of them.
    (head,) = heads
    assert f"Proxy-Authorization: Basic {basic}".encode() in head
    text = str(caught.value) + repr(caught.value)
    assert caught.value.status_code == 502 and "Bad gateway" in text and "***" in text
    for secret in (password, "pr0xy-p%40ss", basic):
        assert secret not in text
