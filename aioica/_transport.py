"""The HTTP transports underneath aioica's ``httpx.AsyncClient``.

httpx stays the interface (auth flows, event hooks, respx, ``ASGITransport``); only the transport
below it changes, because httpcore's single connection pool costs milliseconds of CPU per request
at 30+ requests in flight: every pool event scans every queued request against every connection.

- ``"aiohttp"``: :class:`AiohttpTransport`, a thin adapter over aiohttp's public client API
  (asyncio only). aiohttp's connector hands out connections in O(1) and parses HTTP in C.
- ``"httpx-pools"``: :class:`PooledTransport`, several small ``httpx.AsyncHTTPTransport`` pools
  with requests sent to the least loaded one; works on asyncio and trio.

``build_transport(kind="auto")`` picks aiohttp when it is importable and the running event loop
is asyncio, else the pooled httpx transport. Every transport raises httpx exceptions only, mapped
on what happened; :func:`classify_transport_error` turns any of them into the retry code's terms.

Everything here that leans on another library's internals is marked "internals:" and covered by
tests in ``tests/unit/test_transport.py`` that fail loudly when that library changes.
"""

from __future__ import annotations

import http.cookiejar
import math
import ssl
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal

import httpcore
import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "AiohttpTransport",
    "NoCookieJar",
    "PooledTransport",
    "TransportKind",
    "build_transport",
    "classify_transport_error",
    "current_async_library",
    "tune_client",
]

TransportKind = Literal["auto", "aiohttp", "httpx"]
ErrorKind = Literal["timeout", "connect", "read", "other"]

#: Connections per httpcore pool in the pooled transport. httpcore's per-event cost grows with
#: the connections and queued requests of one pool, so small pools are cheap; measured best at 4.
POOL_SIZE = 4

#: Bodies with a declared length up to this are read inside the transport, in one go: it saves
#: the per-chunk async iteration and frees the connection at once. Larger or unsized bodies are
#: streamed, so a caller's size cap still applies before they are read.
EAGER_READ_LIMIT = 1 << 20

#: httpx's default keep-alive expiry, kept for aiohttp too so both behave alike.
KEEPALIVE_EXPIRY = 5.0

# internals: respx (default "httpcore" mocker) patches this method to intercept requests. The
# aiohttp transport checks it per request and routes through httpcore while it is patched, so
# respx keeps working whichever transport "auto" picked.
_HTTPCORE_POOL_HANDLER = httpcore.AsyncConnectionPool.handle_async_request


def current_async_library() -> str | None:
    """Name of the running async library ("asyncio", "trio"), or None outside an event loop."""
    try:
        import sniffio
    except ImportError:  # pragma: no cover - sniffio is a test and runtime recommendation
        sniffio = None  # type: ignore[assignment]
    if sniffio is not None:
        try:
            return str(sniffio.current_async_library())
        except sniffio.AsyncLibraryNotFoundError:
            return None
    if "trio" in sys.modules:  # pragma: no cover
        import trio

        try:
            trio.lowlevel.current_task()
            return "trio"
        except RuntimeError:
            pass
    import asyncio  # pragma: no cover

    try:  # pragma: no cover
        asyncio.get_running_loop()
        return "asyncio"
    except RuntimeError:  # pragma: no cover
        return None


def aiohttp_available() -> bool:
    """Whether the aiohttp-backed transport can be used (aiohttp importable)."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


def _ssl_context(verify: bool | str | ssl.SSLContext, trust_env: bool) -> ssl.SSLContext:
    # One context for every pool: building one loads the CA bundle, which costs milliseconds.
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        # httpx 0.28 deprecates a path here; an explicit context behaves the same everywhere.
        return ssl.create_default_context(cafile=verify)
    return httpx.create_ssl_context(verify=verify, trust_env=trust_env)


def build_transport(
    *,
    kind: TransportKind = "auto",
    max_connections: int,
    timeout: httpx.Timeout,
    verify: bool | str | ssl.SSLContext = True,
    trust_env: bool = True,
) -> tuple[httpx.AsyncBaseTransport, str]:
    """Build the transport for a session; returns it and the name of what was chosen.

    ``"auto"`` picks ``"aiohttp"`` when aiohttp is importable and the running event loop is
    asyncio, else ``"httpx-pools"``. Called outside an event loop, ``"auto"`` returns a transport
    that decides on its first request (name ``"auto"``). ``"aiohttp"`` requires aiohttp;
    ``"httpx"`` always gives the pooled httpx transport. ``max_connections`` bounds the total
    number of connections. Proxies from the environment are applied by ``httpx.AsyncClient``
    (``trust_env``), which mounts its own proxy transports in front of this one.
    """
    if max_connections < 1:
        raise ValueError(f"max_connections must be at least 1, got {max_connections}")
    if kind not in ("auto", "aiohttp", "httpx"):
        raise ValueError(f"transport kind must be 'auto', 'aiohttp' or 'httpx', got {kind!r}")
    ctx = _ssl_context(verify, trust_env)

    def make(name: str) -> httpx.AsyncBaseTransport:
        if name == "aiohttp":
            return AiohttpTransport(max_connections=max_connections, ssl_context=ctx)
        return PooledTransport(max_connections=max_connections, ssl_context=ctx)

    if kind == "aiohttp":
        if not aiohttp_available():
            raise RuntimeError("transport='aiohttp' needs aiohttp: pip install 'aioica[fast]'")
        return make("aiohttp"), "aiohttp"
    if kind == "httpx":
        return make("httpx-pools"), "httpx-pools"
    library = current_async_library()
    if library is None:
        return _DeferredTransport(make), "auto"
    name = _auto_choice(library)
    return make(name), name


def _auto_choice(library: str) -> str:
    return "aiohttp" if library == "asyncio" and aiohttp_available() else "httpx-pools"


class _DeferredTransport(httpx.AsyncBaseTransport):
    """Chooses the transport on its first request, once the event loop is known."""

    def __init__(self, make: Callable[[str], httpx.AsyncBaseTransport]) -> None:
        self._make = make
        self.chosen: str | None = None
        self._inner: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        inner = self._inner
        if inner is None:
            self.chosen = _auto_choice(current_async_library() or "asyncio")
            inner = self._inner = self._make(self.chosen)
        return await inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


# -- the pooled httpx transport ------------------------------------------------------------------


class _CountedStream(httpx.AsyncByteStream):
    """A response body that gives its pool's slot back when closed."""

    __slots__ = ("_counts", "_index", "_released", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, counts: list[int], index: int) -> None:
        self._stream = stream
        self._counts = counts
        self._index = index
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._counts[self._index] -= 1
        await self._stream.aclose()


class PooledTransport(httpx.AsyncBaseTransport):
    """Several small httpcore pools; each request goes to the pool with the fewest in flight.

    Works on asyncio and trio. The pools share one SSL context; their sizes add up to
    ``max_connections``. Keep-alive, timeouts and TLS behave as ``httpx.AsyncHTTPTransport``'s.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        pool_size: int = POOL_SIZE,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        ctx = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        n = max(1, math.ceil(max_connections / max(1, pool_size)))
        sizes = [max_connections // n + (1 if i < max_connections % n else 0) for i in range(n)]
        self.pool_sizes = tuple(sizes)
        self._pools = [
            httpx.AsyncHTTPTransport(
                verify=ctx,
                limits=httpx.Limits(
                    max_connections=size,
                    max_keepalive_connections=size,
                    keepalive_expiry=keepalive_expiry,
                ),
            )
            for size in sizes
        ]
        self._in_flight = [0] * n

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        counts = self._in_flight
        index = counts.index(min(counts))
        counts[index] += 1
        try:
            response = await self._pools[index].handle_async_request(request)
        except BaseException:
            counts[index] -= 1
            raise
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        if _small(response.headers):
            try:
                body = b"".join([chunk async for chunk in stream])
            finally:
                counts[index] -= 1
                await stream.aclose()
            return httpx.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=httpx.ByteStream(body),
                extensions=response.extensions,
                request=request,
            )
        response.stream = _CountedStream(stream, counts, index)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def _small(headers: httpx.Headers) -> bool:
    length = headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= EAGER_READ_LIMIT


# -- the aiohttp-backed transport ----------------------------------------------------------------


def _map_aiohttp_error(exc: BaseException) -> httpx.TransportError | None:
    """The httpx exception for an aiohttp/OS error, chosen on what happened; None if foreign."""
    import asyncio

    import aiohttp

    message = str(exc) or type(exc).__name__
    # Order matters: the aiohttp classes overlap (a connection timeout is a server timeout is a
    # connection error; a disconnect is a connection error too).
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError)):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ClientOSError | aiohttp.ClientConnectionError):
        return httpx.ReadError(message)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.TransportError(message)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, ConnectionRefusedError):
        return httpx.ConnectError(message)
    if isinstance(exc, OSError):
        return httpx.ReadError(message)
    return None


class _AiohttpStream(httpx.AsyncByteStream):
    """An aiohttp response body as an httpx stream; closing gives the connection back."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except Exception as exc:
            mapped = _map_aiohttp_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        # release() keeps the connection only when the body was read to the end, as httpcore.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an aiohttp ``ClientSession`` (asyncio only).

    The session is created on the first request (it binds to the running loop). aiohttp does
    not decompress, follow redirects, keep cookies or read proxy settings here: httpx does all
    of that above the transport. ``timeout.connect`` bounds the TCP/TLS connect, ``pool`` plus
    ``connect`` bounds waiting for a free connection and connecting, ``read`` bounds each read;
    aiohttp has no write timeout. Requests are limited to ``max_connections`` connections.
    While respx's default mocker is active, requests go through httpcore so respx sees them.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        self._max_connections = max_connections
        self._ssl = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._fallback: PooledTransport | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._closed:
            raise RuntimeError("the transport is closed")
        if current_async_library() != "asyncio":
            raise RuntimeError(
                "the aiohttp transport runs on asyncio only; use transport='httpx' on trio"
            )
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            ssl=self._ssl,
            keepalive_timeout=self._keepalive_expiry,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            requote_redirect_url=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    def _client_timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        connect, read, pool = timeout.get("connect"), timeout.get("read"), timeout.get("pool")
        key = (connect, read, pool)
        cached = self._timeouts.get(key)
        if cached is None:
            import aiohttp

            if len(self._timeouts) > 64:
                self._timeouts.clear()
            total_connect = None if pool is None else pool + (connect or 0.0)
            cached = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, connect=total_connect, sock_connect=connect, sock_read=read
            )
        return cached

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if httpcore.AsyncConnectionPool.handle_async_request is not _HTTPCORE_POOL_HANDLER:
            return await self._respx_route(request)
        session = self._session or self._open()
        from yarl import URL

        headers = request.headers.multi_items()
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:
            body = request.stream
            if not isinstance(body, AsyncIterable):
                raise TypeError("an async transport needs an async request body") from None
            data = _body(body)
            # aiohttp frames a streamed body itself and refuses a preset framing header.
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        try:
            response = await session.request(
                request.method,
                # httpx already percent-encoded the URL; encoded=True keeps it byte for byte.
                URL(str(request.url), encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=self._client_timeout(request.extensions.get("timeout", {})),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        except Exception as exc:
            mapped = _map_aiohttp_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        stream: httpx.AsyncByteStream
        length = response.content_length
        if length is not None and length <= EAGER_READ_LIMIT:
            try:
                # read() releases the connection to the pool at the end of the body.
                stream = httpx.ByteStream(await response.read())
            except Exception as exc:
                response.close()
                mapped = _map_aiohttp_error(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            except BaseException:
                response.close()
                raise
        else:
            stream = _AiohttpStream(response)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=stream,
            request=request,
            extensions=extensions,
        )

    async def _respx_route(self, request: httpx.Request) -> httpx.Response:
        if self._fallback is None:
            self._fallback = PooledTransport(
                max_connections=self._max_connections, ssl_context=self._ssl
            )
        return await self._fallback.handle_async_request(request)

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self._fallback is not None:
            await self._fallback.aclose()


async def _body(stream: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


# -- error classification ------------------------------------------------------------------------


def classify_transport_error(exc: BaseException) -> ErrorKind | None:
    """What a transport error means for retrying: decided by what happened, not its name.

    ``"connect"``: no connection was made, the request never left (safe to retry anything).
    ``"read"``: the connection broke or the server hung up before a full answer (safe to retry
    read-only requests). ``"timeout"``: a connect, pool, read or write timeout. ``"other"``: a
    transport error that retrying will not fix (bad URL, protocol misuse). ``None``: not a
    transport error. An httpx exception raised from an aiohttp or OS error is classified on
    that cause, so a server disconnect reported as a connect timeout (as one aiohttp adapter
    does) comes out as ``"read"``.
    """
    cause = exc.__cause__
    if isinstance(exc, httpx.TransportError) and cause is not None:
        underlying = _classify_foreign(cause)
        if underlying is not None:
            return underlying
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return "connect"
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError):
        return "read"
    if isinstance(exc, httpx.NetworkError):
        return "read"
    if isinstance(exc, httpx.TransportError):
        return "other"
    return _classify_foreign(exc)


def _classify_foreign(exc: BaseException) -> ErrorKind | None:
    if "aiohttp" in sys.modules:
        mapped = _map_aiohttp_error(exc)
        if mapped is not None:
            return classify_transport_error(mapped)
        return None
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect"
    if isinstance(exc, OSError):
        return "read"
    return None


# -- URLs ------------------------------------------------------------------------------------------


def url_builder(base_url: str) -> Callable[[str, str | None], httpx.URL]:
    """A function joining ``base_url`` with an already percent-encoded path and query.

    ``httpx.URL(text)`` re-validates every character of the URL (tens of microseconds, a
    visible share of a request's CPU at bulk concurrency). aioica's paths and queries are built
    from percent-encoded pieces only, so the parsed form of the base can be reused and just the
    path and query replaced. Falls back to plain parsing if httpx's URL internals change.
    """
    base = httpx.URL(base_url)
    # internals: httpx keeps the parsed URL as a NamedTuple in ``URL._uri_reference``.
    ref = getattr(base, "_uri_reference", None)
    if not (isinstance(ref, tuple) and hasattr(ref, "_replace") and hasattr(ref, "path")):

        def parse(path: str, query: str | None) -> httpx.URL:
            return httpx.URL(base_url + path + (f"?{query}" if query else ""))

        return parse
    prefix = ref.path.rstrip("/")

    def build(path: str, query: str | None) -> httpx.URL:
        url = httpx.URL.__new__(httpx.URL)
        url._uri_reference = ref._replace(path=prefix + path, query=query or None)
        return url

    return build


# -- client tuning -------------------------------------------------------------------------------


class NoCookieJar(http.cookiejar.CookieJar):
    """A cookie jar that keeps nothing: ICA authenticates by header, never by cookie."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        """Drop the cookie."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        """Keep nothing from the response."""

    def add_cookie_header(self, request: Any) -> None:
        """Send nothing."""


class _NoCookies(httpx.Cookies):
    """httpx's cookie store without the per-response urllib compatibility objects."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Keep nothing from the response."""


def tune_client(client: httpx.AsyncClient) -> None:
    """Drop per-request work a session-owned client does not need (its cookie handling).

    Only for clients aioica built itself: never call it on a caller's ``http_client``.
    """
    # internals: httpx keeps the store in ``_cookies`` and builds two urllib objects per
    # response to offer it the Set-Cookie headers; a store that ignores them skips that.
    if not isinstance(getattr(client, "_cookies", None), httpx.Cookies):
        raise RuntimeError("httpx.AsyncClient no longer keeps its cookies in _cookies")
    client._cookies = _NoCookies(NoCookieJar())
