"""Pins for every internal of another library aioica relies on (all reached via ``aioica._compat``).

Each test fails loudly, naming what changed, when httpx, httpcore or respx moves one of these
internals, instead of aioica silently misbehaving or losing its fast paths.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import httpcore
import httpx
import pytest

from aioica import _compat
from aioica._compat import (
    basic_auth_header,
    build_redirect_request,
    client_internals_available,
    client_transports,
    default_encoding,
    headers_from_raw,
    ignores_cookies,
    mark_request_read,
    origin_key,
    respx_active,
    server_transport,
    set_response_content,
    transport_for_url,
    tune_client,
    url_builder,
)


def test_url_builder_uses_httpx_internals_it_expects() -> None:
    ref = httpx.URL("https://ica.illumina.com/ica/rest")._uri_reference
    assert isinstance(ref, tuple)
    assert ref._fields == ("scheme", "userinfo", "host", "port", "path", "query", "fragment")


def test_respx_still_patches_the_httpcore_pool_method() -> None:
    respx = pytest.importorskip("respx")
    from respx.mocks import HTTPCoreMocker

    assert "httpcore._async.connection_pool.AsyncConnectionPool" in HTTPCoreMocker.targets
    assert "handle_async_request" in HTTPCoreMocker.target_methods
    assert httpcore.AsyncConnectionPool.handle_async_request is _compat._HTTPCORE_POOL_HANDLER
    with respx.mock:
        assert (
            httpcore.AsyncConnectionPool.handle_async_request is not _compat._HTTPCORE_POOL_HANDLER
        )


def test_tune_client_replaces_the_cookie_store() -> None:
    client = httpx.AsyncClient()
    assert isinstance(client._cookies, httpx.Cookies)
    tune_client(client)
    assert isinstance(client._cookies, _compat._NoCookies)
    client._cookies.extract_cookies(
        httpx.Response(
            200, headers={"set-cookie": "a=b"}, request=httpx.Request("GET", "http://x/")
        )
    )
    assert not client.cookies
    del client._cookies
    with pytest.raises(RuntimeError, match="_cookies"):
        tune_client(client)


def test_httpx_cookie_extraction_still_builds_urllib_objects() -> None:
    # What tune_client saves; if httpx stops doing this, tune_client can go.
    assert "_CookieCompatRequest" in vars(httpx.Cookies)


def test_use_client_default_is_the_type_of_the_public_sentinel() -> None:
    assert isinstance(httpx.USE_CLIENT_DEFAULT, _compat.UseClientDefault)


def test_response_content_can_be_stored_as_read() -> None:
    response = httpx.Response(200, stream=httpx.ByteStream(b"raw"), request=_request())
    with pytest.raises(httpx.ResponseNotRead):
        response.content  # noqa: B018
    set_response_content(response, b"decoded")
    assert response.content == b"decoded"
    assert response.text == "decoded"


def test_request_body_can_be_marked_read() -> None:
    request = httpx.Request("POST", "https://ica.example/x", stream=httpx.ByteStream(b"{}"))
    with pytest.raises(httpx.RequestNotRead):
        request.content  # noqa: B018
    mark_request_read(request, b"{}")
    assert request.content == b"{}"


@pytest.mark.anyio
async def test_client_send_internals_exist_and_behave() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    proxied = httpx.MockTransport(lambda request: httpx.Response(204))
    async with httpx.AsyncClient(
        transport=transport,
        mounts={"https://proxied.example": proxied},
        default_encoding="latin-1",
    ) as client:
        assert client_internals_available(client)
        assert transport_for_url(client, httpx.URL("https://ica.example/x")) is transport
        assert transport_for_url(client, httpx.URL("https://proxied.example/x")) is proxied
        assert default_encoding(client) == "latin-1"
        request = client.build_request("GET", "https://ica.example/a")
        response = httpx.Response(302, headers={"location": "/b"}, request=request)
        follow = build_redirect_request(client, request, response)
        assert (follow.method, str(follow.url)) == ("GET", "https://ica.example/b")
    assert not client_internals_available(object())  # type: ignore[arg-type]


def test_basic_auth_header_is_readable() -> None:
    assert basic_auth_header(httpx.BasicAuth("user", "pw")) == "Basic dXNlcjpwdw=="
    assert basic_auth_header(httpx.Auth()) is None
    assert basic_auth_header(None) is None


def test_respx_active_follows_the_mocker() -> None:
    respx = pytest.importorskip("respx")
    assert not respx_active()
    with respx.mock:
        assert respx_active()
    assert not respx_active()


def test_url_builder_builds_without_reparsing() -> None:
    build = url_builder("https://ica.illumina.com/ica/rest/")
    url = build("/api/projects/p%2F1/workflowSessions", "pageSize=5")
    assert (
        str(url)
        == "https://ica.illumina.com/ica/rest/api/projects/p%2F1/workflowSessions?pageSize=5"
    )
    assert url.raw_path == b"/ica/rest/api/projects/p%2F1/workflowSessions?pageSize=5"


def test_uvicorn_send_exposes_the_connection_transport() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(server_transport(send))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="error"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve([sock])), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 204
    finally:
        server.should_exit = True
        thread.join(10)
    assert isinstance(seen[0], asyncio.Transport)
    assert callable(seen[0].abort)
    assert server_transport(lambda message: None) is None


def _request() -> httpx.Request:
    return httpx.Request("GET", "https://ica.example/x")


def test_headers_from_raw_builds_what_httpx_headers_builds() -> None:
    assert _compat._HEADERS_KEEP_TRIPLES, "httpx.Headers no longer keeps (name, lower, value)"
    raw = [
        (b"Content-Type", b"application/json"),
        (b"Set-Cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"X-Caf\xc3\xa9", b"\xc3\xa9t\xc3\xa9"),
    ]
    fast, slow = headers_from_raw(raw), httpx.Headers(raw)
    assert fast.raw == slow.raw
    assert fast.multi_items() == slow.multi_items()
    assert fast.encoding == slow.encoding == "utf-8"
    assert fast.get_list("SET-COOKIE") == slow.get_list("set-cookie") == ["a=1", "b=2"]
    assert httpx.Response(200, headers=fast).headers == httpx.Response(200, headers=slow).headers


def test_ignores_cookies_only_after_tune_client() -> None:
    client = httpx.AsyncClient()
    assert not ignores_cookies(client)
    tune_client(client)
    assert ignores_cookies(client)


def test_transport_response_sets_what_the_constructor_sets() -> None:
    assert _compat._RESPONSE_FIELDS_KNOWN, "httpx.Response.__init__ sets other attributes now"
    request = httpx.Request("GET", "https://ica.example/a")
    stream = httpx.ByteStream(b"{}")

    def made(fast: bool) -> httpx.Response:
        headers = httpx.Headers({"Content-Type": "application/json"})
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": b"OK"}
        if fast:
            return _compat.transport_response(201, headers, stream, request, extensions)
        return httpx.Response(
            201, headers=headers, stream=stream, request=request, extensions=extensions
        )

    fast, slow = made(True), made(False)
    assert vars(fast).keys() == vars(slow).keys()
    for name, value in vars(slow).items():
        assert getattr(fast, name) == value, name
    assert (
        fast.request is request and fast.reason_phrase == "OK" and fast.http_version == "HTTP/1.1"
    )
    assert fast.read() == b"{}" and fast.json() == {}


@pytest.mark.parametrize(
    "text",
    [
        "http://127.0.0.1:8080/ica/rest/api/projects/p/workflowSessions/w/analyses:search"
        "?pageSize=1000&pageToken=a%2Fb%3D",
        "https://ica.illumina.com/ica/rest/api/projects/p%20q/workflowSessions",
        "https://ica.illumina.com:8443/ica/rest/x?y=1",
        "https://ica.illumina.com:443/ica/rest/x",
        "https://ica.illumina.com/ica/rest/x?",
        "https://ica.illumina.com",
        "https://ica.illumina.com?x=1",
        "http://LOCALHOST/a/b%2Fc?q=%C3%A9&r",
        "https://café.example/a",
        "http://[::1]:8080/ica/rest/x",
        "https://user:pw@ica.example/a",
        "https://ica.example/a#frag",
    ],
)
def test_yarl_url_is_the_parsed_text(text: str) -> None:
    from yarl import URL

    assert _compat._URL_PARTS_KNOWN, "httpx.URL no longer keeps its parts in _uri_reference"
    url = httpx.URL(text)
    built, parsed = _compat.yarl_url(url, URL), URL(str(url), encoded=True)
    assert built == parsed
    assert str(built) == str(parsed)
    for part in (
        "scheme",
        "raw_host",
        "port",
        "raw_path_qs",
        "raw_query_string",
        "host_port_subcomponent",
    ):
        assert getattr(built, part) == getattr(parsed, part), part


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_request_from_template_is_what_the_constructor_builds(method: str) -> None:
    assert _compat._REQUEST_FIELDS_KNOWN, "httpx.Request.__init__ sets other attributes now"
    template = httpx.Request(
        method, "https://ica.example/a", headers={"Accept": "x/y"}, extensions={"timeout": {}}
    )
    url = httpx.URL("https://ica.example/b?c=d")
    fast = _compat.request_from_template(template, url)
    slow = httpx.Request(
        method,
        url,
        headers=template.headers,
        stream=template.stream,
        extensions=template.extensions,
    )
    slow.read()
    assert vars(fast).keys() == vars(slow).keys()
    for name, value in vars(slow).items():
        assert getattr(fast, name) == value, name
    assert fast.headers.raw == slow.headers.raw and fast.content == slow.content == b""
    # A request of its own: changing it leaves the template alone.
    fast.headers["X-API-Key"] = "k"
    fast.extensions["sni_hostname"] = "h"
    assert "X-API-Key" not in template.headers and "sni_hostname" not in template.extensions


def test_fallbacks_when_httpx_internals_move(monkeypatch: pytest.MonkeyPatch) -> None:
    from yarl import URL

    # What the fast builders give when their probes fail: the public constructors' results.
    monkeypatch.setattr(_compat, "_RESPONSE_FIELDS_KNOWN", False)
    monkeypatch.setattr(_compat, "_REQUEST_FIELDS_KNOWN", False)
    monkeypatch.setattr(_compat, "_URL_PARTS_KNOWN", False)
    template = httpx.Request("POST", "https://ica.example/a", headers={"Accept": "x/y"})
    url = httpx.URL("https://ica.example/b?c=d")
    request = _compat.request_from_template(template, url)
    assert request.url == url and request.headers.raw == template.headers.raw
    assert request.content == b""
    headers = httpx.Headers({"Content-Type": "application/json"})
    response = _compat.transport_response(200, headers, httpx.ByteStream(b"{}"), request, {})
    assert response.request is request and response.headers == headers
    assert response.read() == b"{}"
    assert _compat.yarl_url(url, URL) == URL(str(url), encoded=True)
    assert _compat.origin_key(url) == ("https", b"ica.example")
    assert _compat.origin_key(url) != _compat.origin_key(httpx.URL("https://ica.example:8443/b"))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://ica.example/a?x=1", "https://ica.example/b", True),
        ("https://ica.example/a", "https://ica.example:8443/a", False),
        ("https://ica.example/a", "http://ica.example/a", False),
        ("https://ica.example/a", "https://other.example/a", False),
    ],
)
def test_origin_key_is_the_origin(a: str, b: str, same: bool) -> None:
    key_a, key_b = origin_key(httpx.URL(a)), origin_key(httpx.URL(b))
    assert (key_a == key_b) == same
    assert (httpx.URL(a).netloc == httpx.URL(b).netloc and a[:5] == b[:5]) == same
    assert _compat._URL_PARTS_KNOWN  # the fast key, not the fallback


@pytest.mark.anyio
async def test_client_transports_are_the_clients_own() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    async with httpx.AsyncClient(transport=transport) as client:
        found = client_transports(client)
        assert found is not None and found[0] is transport and not found[1]
        assert transport_for_url(client, httpx.URL("https://h.example/")) is transport
    proxy = httpx.MockTransport(lambda request: httpx.Response(204))
    async with httpx.AsyncClient(transport=transport, mounts={"https://": proxy}) as client:
        found = client_transports(client)
        assert found is not None and found[0] is transport and len(found[1]) == 1
        assert transport_for_url(client, httpx.URL("https://h.example/")) is proxy
