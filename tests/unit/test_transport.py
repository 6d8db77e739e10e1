"""Behaviour of every transport aioica can select, against a tiny loopback HTTP/1.1 server.

The server is a plain threaded socket server, so it counts what the client really does:
distinct client connections (keep-alive), requests in flight at once (limits), gzip, and it
can misbehave on purpose (close without answering, never answer). No timings are asserted.
"""

from __future__ import annotations

import gc
import gzip
import json
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aioica._compat import tune_client, url_builder
from aioica._transports import (
    AiohttpTransport,
    PooledTransport,
    build_transport,
    classify_transport_error,
    map_aiohttp_error,
)
from tests.support.net import free_port

aiohttp = pytest.importorskip("aiohttp")

pytestmark = pytest.mark.tcp

PAGE = {"items": [{"id": i, "name": f"analysis-{i}"} for i in range(50)], "nextPageToken": None}
TIMEOUT = httpx.Timeout(10.0)


# -- the server -----------------------------------------------------------------------------------


class Server:
    """A threaded HTTP/1.1 server on 127.0.0.1 with keep-alive and fault modes.

    mode: "ok" answers JSON (gzip when asked) after `latency` seconds, "chunked" the same with
    chunked transfer encoding; "close" reads the
    request and closes without answering; "hang" reads the request and never answers.
    """

    def __init__(
        self, mode: str = "ok", latency: float = 0.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.mode = mode
        self.latency = latency
        self.tls = tls
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.client_ports: set[int] = set()
        self.requests: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gzipped = 0
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.sock.settimeout(0.05)  # so close() needs no wake-up call
        self.port = self.sock.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                conn.settimeout(None)
            except OSError:
                conn.close()
                continue
            with self.lock:
                self.client_ports.add(addr[1])
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        conn: Any = raw
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(raw, server_side=True)
            buf = b""
            while not self.stop.is_set():
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:])
                }
                if headers.get("transfer-encoding") == "chunked":
                    while not buf.endswith(b"0\r\n\r\n"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    buf = b""
                else:
                    length = int(headers.get("content-length", "0"))
                    while len(buf) < length:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                    buf = buf[length:]
                with self.lock:
                    self.requests.append({"request-line": lines[0], **headers})
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    if self.mode == "close":
                        return
                    if self.mode == "hang":
                        self.stop.wait(30)
                        return
                    if self.latency:
                        self.stop.wait(self.latency)
                    body = json.dumps(PAGE).encode()
                    extra = ""
                    if "gzip" in headers.get("accept-encoding", ""):
                        body = gzip.compress(body)
                        extra = "Content-Encoding: gzip\r\n"
                        with self.lock:
                            self.gzipped += 1
                    if self.mode == "chunked":
                        # No declared length: the transports stream this body.
                        head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + extra
                        half = len(body) // 2
                        conn.sendall(
                            f"{head}\r\n{half:x}\r\n".encode()
                            + body[:half]
                            + f"\r\n{len(body) - half:x}\r\n".encode()
                            + body[half:]
                            + b"\r\n0\r\n\r\n"
                        )
                        continue
                    conn.sendall(
                        (
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            f"Set-Cookie: session=abc; Path=/\r\n{extra}"
                            f"Content-Length: {len(body)}\r\n\r\n"
                        ).encode()
                        + body
                    )
                finally:
                    with self.lock:
                        self.in_flight -= 1
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        with self.lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(latency=0.01)
    yield srv
    srv.close()


# -- transport selection --------------------------------------------------------------------------

KINDS = ["aiohttp", "httpx", "auto"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, anyio_backend: str) -> str:
    if request.param == "aiohttp" and anyio_backend != "asyncio":
        pytest.skip("the aiohttp transport runs on asyncio only")
    return str(request.param)


def _client(kind: str, max_connections: int = 8, **kw: Any) -> httpx.AsyncClient:
    transport, _name = build_transport(kind=kind, max_connections=max_connections, timeout=TIMEOUT)  # type: ignore[arg-type]
    client = httpx.AsyncClient(transport=transport, timeout=kw.pop("timeout", TIMEOUT), **kw)
    tune_client(client)
    return client


@pytest.mark.anyio
async def test_auto_picks_aiohttp_on_asyncio_and_pools_on_trio(anyio_backend: str) -> None:
    transport, name = build_transport(max_connections=8, timeout=TIMEOUT)
    try:
        if anyio_backend == "asyncio":
            assert name == "aiohttp"
            assert isinstance(transport, AiohttpTransport)
        else:
            assert name == "httpx-pools"
            assert isinstance(transport, PooledTransport)
    finally:
        await transport.aclose()


def test_auto_outside_a_loop_decides_on_first_request(server: Server) -> None:
    transport, name = build_transport(max_connections=4, timeout=TIMEOUT)
    assert name == "auto"

    async def main() -> str | None:
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get(server.url + "/x")
            assert response.json() == PAGE
        return transport.chosen  # type: ignore[attr-defined, no-any-return]

    assert anyio.run(main, backend="trio") == "httpx-pools"


def test_explicit_kinds_and_bad_arguments() -> None:
    assert build_transport(kind="httpx", max_connections=3, timeout=TIMEOUT)[1] == "httpx-pools"
    assert build_transport(kind="aiohttp", max_connections=3, timeout=TIMEOUT)[1] == "aiohttp"
    with pytest.raises(ValueError, match="max_connections"):
        build_transport(max_connections=0, timeout=TIMEOUT)
    with pytest.raises(ValueError, match="kind"):
        build_transport(kind="requests", max_connections=1, timeout=TIMEOUT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("total", "sizes"), [(1, (1,)), (4, (4,)), (10, (4, 3, 3)), (32, (4,) * 8)]
)
def test_pool_sizes_add_up_to_max_connections(total: int, sizes: tuple[int, ...]) -> None:
    assert PooledTransport(max_connections=total).pool_sizes == sizes


@pytest.mark.anyio
async def test_aiohttp_transport_refuses_trio(anyio_backend: str, server: Server) -> None:
    if anyio_backend != "trio":
        pytest.skip("trio only")
    transport = AiohttpTransport(max_connections=2)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(RuntimeError, match="asyncio only"):
            await client.get(server.url)


# -- behaviour, every transport -------------------------------------------------------------------


@pytest.mark.anyio
async def test_round_trip_headers_body_and_auth(kind: str, server: Server) -> None:
    seen: list[str] = []

    class Auth(httpx.Auth):
        def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
            request.headers["X-API-Key"] = "k"
            yield request

    async def hook(request: httpx.Request) -> None:
        seen.append(request.method)

    async with _client(kind, auth=Auth(), event_hooks={"request": [hook]}) as client:
        url = server.url + "/api/projects/p/workflowSessions/w/analyses:search?pageToken=a%2Fb%3D"
        response = await client.post(url, content=b'{"status":["FAILED"]}')
        assert response.status_code == 200
        assert response.json() == PAGE
        assert response.http_version == "HTTP/1.1"
        assert response.reason_phrase == "OK"
    assert seen == ["POST"]
    (req,) = server.requests
    # The percent-encoded query arrives byte for byte.
    assert req["request-line"].split(" ")[1].endswith("analyses:search?pageToken=a%2Fb%3D")
    assert req["x-api-key"] == "k"
    assert req["content-length"] == "21"
    assert req["host"] == f"127.0.0.1:{server.port}"


@pytest.mark.anyio
async def test_keep_alive_reuses_connections(kind: str, server: Server) -> None:
    async with _client(kind, max_connections=4) as client:

        async def worker() -> None:
            for _ in range(10):
                response = await client.get(server.url + "/ka")
                assert response.json() == PAGE

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(worker)
    assert len(server.requests) == 40
    assert len(server.client_ports) <= 4


@pytest.mark.anyio
async def test_gzip_is_requested_and_decoded(kind: str, server: Server) -> None:
    async with _client(kind) as client:
        response = await client.get(server.url + "/gz")
        assert response.json() == PAGE
        assert response.headers["content-encoding"] == "gzip"
    assert "gzip" in server.requests[0]["accept-encoding"]
    assert server.gzipped == 1


@pytest.mark.anyio
async def test_connection_limit_is_respected(kind: str) -> None:
    srv = Server(latency=0.05)
    try:
        async with _client(kind, max_connections=3) as client:
            async with anyio.create_task_group() as tg:
                for _ in range(15):
                    tg.start_soon(client.get, srv.url + "/limit")
        assert len(srv.requests) == 15
        assert srv.max_in_flight <= 3
        assert len(srv.client_ports) <= 3
    finally:
        srv.close()


@pytest.mark.anyio
async def test_read_timeout(kind: str) -> None:
    srv = Server(mode="hang")
    try:
        async with _client(kind, timeout=httpx.Timeout(10.0, read=0.3)) as client:
            with pytest.raises(httpx.ReadTimeout) as info:
                await client.post(srv.url + "/slow", content=b"{}")
        assert classify_transport_error(info.value) == "timeout"
    finally:
        srv.close()


@pytest.mark.anyio
async def test_nothing_listening_is_a_connect_error(kind: str) -> None:
    async with _client(kind) as client:
        with pytest.raises(httpx.ConnectError) as info:
            await client.get(f"http://127.0.0.1:{(port := free_port())}/")
    assert classify_transport_error(info.value) == "connect"
    if kind == "aiohttp":  # aioica words aiohttp's errors itself; httpcore's are its own
        assert str(info.value) == f"cannot connect to 127.0.0.1:{port}: connection refused"


@pytest.mark.anyio
async def test_server_disconnect_is_a_read_failure_not_a_timeout(kind: str) -> None:
    srv = Server(mode="close")
    try:
        async with _client(kind) as client:
            with pytest.raises(httpx.TransportError) as info:
                await client.post(srv.url + "/bye", content=b"{}")
        assert not isinstance(info.value, httpx.TimeoutException)
        assert isinstance(info.value, httpx.RemoteProtocolError | httpx.ReadError)
        assert classify_transport_error(info.value) == "read"
    finally:
        srv.close()


@pytest.mark.anyio
async def test_chunked_bodies_stream_and_connections_are_reused(kind: str) -> None:
    srv = Server(mode="chunked")
    try:
        async with _client(kind, max_connections=1) as client:
            for _ in range(3):
                response = await client.get(srv.url + "/chunked")
                assert response.json() == PAGE
            # Leaving a streamed body unread drops that connection, never corrupts the next.
            async with client.stream("GET", srv.url + "/unread") as response:
                assert response.status_code == 200
            assert (await client.get(srv.url + "/again")).json() == PAGE
        assert len(srv.client_ports) <= 2
    finally:
        srv.close()


@pytest.mark.anyio
async def test_streamed_request_body(kind: str, server: Server) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"status":'
        yield b'["FAILED"]}'

    async with _client(kind) as client:
        response = await client.post(server.url + "/upload", content=body())
        assert response.json() == PAGE
    assert server.requests[0].get("transfer-encoding") == "chunked" or (
        server.requests[0].get("content-length") == "21"
    )


@pytest.mark.anyio
async def test_cookies_are_not_kept(kind: str, server: Server) -> None:
    async with _client(kind) as client:
        await client.get(server.url + "/c1")
        await client.get(server.url + "/c2")
        assert not client.cookies
    assert all("cookie" not in r for r in server.requests)


@pytest.mark.anyio
async def test_early_close_of_a_streamed_response(kind: str, server: Server) -> None:
    async with _client(kind, max_connections=1) as client:
        for _ in range(3):
            async with client.stream("GET", server.url + "/s") as response:
                assert response.status_code == 200
        response = await client.get(server.url + "/after")
        assert response.json() == PAGE


@pytest.mark.anyio
async def test_clean_close_leaves_no_warnings(kind: str, server: Server) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = _client(kind)
        async with client:
            await client.get(server.url + "/w")
        del client
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.anyio
async def test_closed_aiohttp_transport_refuses_requests(
    anyio_backend: str, server: Server
) -> None:
    if anyio_backend != "asyncio":
        pytest.skip("asyncio only")
    transport = AiohttpTransport(max_connections=1)
    await transport.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", server.url))


# -- TLS verification -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not available")
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(crt), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt, key


@pytest.mark.anyio
async def test_tls_verification(kind: str, cert: tuple[Path, Path]) -> None:
    crt, key = cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(crt, key)
    srv = Server(tls=server_ctx)
    try:
        # The default context does not trust a self-signed certificate.
        async with _client(kind) as client:
            with pytest.raises(httpx.ConnectError) as info:
                await client.get(srv.url + "/tls")
            assert classify_transport_error(info.value) == "connect"
        # A CA bundle path (verify=str) trusts it.
        transport, _ = build_transport(
            kind=kind, max_connections=2, timeout=TIMEOUT, verify=str(crt)
        )  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport) as client:
            assert (await client.get(srv.url + "/tls")).json() == PAGE
    finally:
        srv.close()


# -- error classification -------------------------------------------------------------------------


def _raised_from(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("t"), "timeout"),
        (httpx.ReadTimeout("t"), "timeout"),
        (httpx.WriteTimeout("t"), "timeout"),
        (httpx.PoolTimeout("t"), "timeout"),
        (httpx.ConnectError("c"), "connect"),
        (httpx.ProxyError("p"), "connect"),
        (httpx.ReadError("r"), "read"),
        (httpx.WriteError("w"), "read"),
        (httpx.RemoteProtocolError("Server disconnected"), "read"),
        (httpx.UnsupportedProtocol("ftp"), "other"),
        (httpx.LocalProtocolError("bad"), "other"),
        (ValueError("not a transport error"), None),
        (ConnectionRefusedError(), "connect"),
        (ConnectionResetError(), "read"),
        (TimeoutError(), "timeout"),
        # One aiohttp adapter raises ConnectTimeout for a server disconnect: the cause decides.
        (_raised_from(httpx.ConnectTimeout("x"), aiohttp.ServerDisconnectedError()), "read"),
        (_raised_from(httpx.ConnectTimeout("x"), aiohttp.ClientOSError(104, "reset")), "read"),
        (_raised_from(httpx.ConnectTimeout("x"), aiohttp.ConnectionTimeoutError()), "timeout"),
        (_raised_from(httpx.ConnectError("x"), ConnectionRefusedError()), "connect"),
    ],
)
def test_classify_transport_error(exc: BaseException, expected: str | None) -> None:
    assert classify_transport_error(exc) == expected


def _connector_error(cls: type[Exception]) -> Exception:
    key = aiohttp.client_reqrep.ConnectionKey("h", 443, True, None, None, None, None)
    return cls(key, OSError(111, "refused"))


@pytest.mark.parametrize(
    ("exc", "mapped"),
    [
        (aiohttp.ConnectionTimeoutError("c"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("r"), httpx.ReadTimeout),
        (aiohttp.ServerTimeoutError("r"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut"), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
        (aiohttp.ClientConnectionResetError("reset"), httpx.ReadError),
        (aiohttp.ClientConnectionError("x"), httpx.ReadError),
        (aiohttp.InvalidURL("x"), httpx.UnsupportedProtocol),
        (aiohttp.ClientError("x"), httpx.TransportError),
        (ConnectionRefusedError(), httpx.ConnectError),
    ],
)
def test_aiohttp_errors_map_on_what_happened(exc: Exception, mapped: type[Exception]) -> None:
    result = map_aiohttp_error(exc)
    assert type(result) is mapped


def test_aiohttp_connector_errors_map_to_connect_errors() -> None:
    assert type(map_aiohttp_error(_connector_error(aiohttp.ClientConnectorError))) is (
        httpx.ConnectError
    )
    assert (
        type(map_aiohttp_error(_connector_error(aiohttp.ClientProxyConnectionError)))
        is httpx.ProxyError
    )
    assert map_aiohttp_error(KeyError("x")) is None


# -- reliance on other libraries' internals (these fail loudly when those libraries change) ------


@pytest.mark.anyio
async def test_respx_mocks_every_transport(kind: str) -> None:
    respx = pytest.importorskip("respx")
    with respx.mock(assert_all_called=True) as mock:
        mock.post("https://ica.example/api/x").respond(json={"mocked": True})
        async with _client(kind) as client:
            response = await client.post("https://ica.example/api/x", content=b"{}")
            assert response.json() == {"mocked": True}


# -- through aioica.Session -----------------------------------------------------------------------

PROJECT = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
WS = "6fa459ea-ee8a-3ca4-894e-db77e160355e"


def _session(kind: str, url: str, **kw: Any) -> Any:
    import aioica

    return aioica.Session(
        aioica.ApiKeyAuth("key"),
        base_url=url,
        transport=kind,
        allow_insecure_http=True,
        retry=aioica.RetryPolicy.none(),
        **kw,
    )


async def _search(ica: Any) -> Any:
    return await ica.search_orchestrated_analyses(PROJECT, WS, raw=True)


@pytest.mark.anyio
async def test_session_limits_and_keep_alive(kind: str) -> None:
    srv = Server(latency=0.03)
    try:
        async with _session(kind, srv.url, max_concurrency=3) as ica:
            async with anyio.create_task_group() as tg:
                for _ in range(15):
                    tg.start_soon(_search, ica)
        assert len(srv.requests) == 15
        assert srv.max_in_flight <= 3
        assert len(srv.client_ports) <= 3
    finally:
        srv.close()


@pytest.mark.anyio
async def test_session_timeout_is_api_timeout_error(kind: str) -> None:
    import aioica

    srv = Server(mode="hang")
    try:
        async with _session(kind, srv.url, timeout=httpx.Timeout(5.0, read=0.3)) as ica:
            with pytest.raises(aioica.APITimeoutError):
                await _search(ica)
    finally:
        srv.close()


@pytest.mark.anyio
async def test_session_connection_errors_are_api_connection_errors(kind: str) -> None:
    import aioica

    srv = Server(mode="close")
    try:
        for url in (srv.url, f"http://127.0.0.1:{free_port()}"):
            async with _session(kind, url) as ica:
                with pytest.raises(aioica.APIConnectionError) as info:
                    await _search(ica)
                assert not isinstance(info.value, aioica.APITimeoutError)
    finally:
        srv.close()


# -- URL building (relies on httpx.URL internals: these tests fail loudly if they change) ------


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(
        ["https://ica.illumina.com/ica/rest", "http://127.0.0.1:8765/ica/rest/", "http://[::1]:1/x"]
    ),
    segment=st.text(min_size=1, max_size=40),
    query=st.lists(
        st.tuples(st.sampled_from(["pageToken", "pageSize", "sort", "status"]), st.text()),
        max_size=4,
    ),
)
# Dot segments, which httpx's parsing removes (RFC 3986 5.2.4): the builder must too.
@example(base="https://ica.illumina.com/ica/rest", segment=".", query=[])
@example(base="http://127.0.0.1:8765/ica/rest/", segment="..", query=[("pageSize", ".")])
def test_url_builder_matches_httpx_parsing(
    base: str, segment: str, query: list[tuple[str, str]]
) -> None:
    path = f"/api/projects/{quote(segment, safe='')}/workflowSessions:search"
    encoded = urlencode(query, quote_via=quote) if query else None
    fast = url_builder(base)(path, encoded)
    slow = httpx.URL(base.rstrip("/") + path + (f"?{encoded}" if encoded else ""))
    assert fast == slow
    assert fast.raw_path == slow.raw_path
    assert str(fast) == str(slow)
    assert list(fast.params.multi_items()) == list(slow.params.multi_items())


def test_aiohttp_request_headers_keep_every_value() -> None:
    from aioica._transports._aiohttp import request_headers

    single = httpx.Headers({"Accept": "a/b", "X-API-Key": "k"})
    assert request_headers(single, streamed=False) == {"Accept": "a/b", "X-API-Key": "k"}
    repeated = httpx.Headers(
        [("Accept", "a/b"), ("X-Tag", "1"), ("X-Tag", "2"), ("Transfer-Encoding", "chunked")]
    )
    assert request_headers(repeated, streamed=False) == [
        ("Accept", "a/b"),
        ("X-Tag", "1"),
        ("X-Tag", "2"),
        ("Transfer-Encoding", "chunked"),
    ]
    # aiohttp frames a streamed body itself.
    assert request_headers(repeated, streamed=True) == [
        ("Accept", "a/b"),
        ("X-Tag", "1"),
        ("X-Tag", "2"),
    ]


@pytest.mark.parametrize("value", [b"caf\xc3\xa9", b"caf\xe9"], ids=["utf-8", "latin-1"])
def test_aiohttp_request_headers_decode_as_httpx_does(value: bytes) -> None:
    from aioica._transports._aiohttp import request_headers

    # ASCII is tried first; anything else is decoded by httpx's own rule (Headers.encoding).
    headers = httpx.Headers([(b"Accept", b"a/b"), (b"X-Note", value)])
    expected = value.decode(headers.encoding)
    assert request_headers(headers, streamed=False) == {"Accept": "a/b", "X-Note": expected}
    headers = httpx.Headers([(b"X-Note", value), (b"X-Note", b"plain")])
    assert request_headers(headers, streamed=False) == [("X-Note", expected), ("X-Note", "plain")]
