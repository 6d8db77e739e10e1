"""The aiohttp-backed httpx transport (asyncio only): a thin adapter over aiohttp's public
client API. aiohttp's connector hands out connections in O(1) and parses HTTP in C.

Every aiohttp or OS error is raised as the httpx exception for what happened.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import httpx
import sniffio

from .._compat import headers_from_raw, respx_active, transport_response, yarl_url
from ._pooled import EAGER_READ_LIMIT, KEEPALIVE_EXPIRY, PooledTransport, WholeBody

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport", "httpx_response", "map_aiohttp_error", "request_headers"]


def map_aiohttp_error(exc: BaseException) -> httpx.TransportError | None:
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
        # aiohttp's own text ("Cannot connect to host h:p ssl:default [...]") names its SSL
        # setting, not what happened.
        cause = exc.os_error
        why = (
            "connection refused"
            if isinstance(cause, ConnectionRefusedError)
            else cause.strerror or str(cause) or type(cause).__name__
        )
        return httpx.ConnectError(f"cannot connect to {exc.host}:{exc.port}: {why}")
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
            mapped = map_aiohttp_error(exc)
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
        self._url_class: Any = None  # yarl.URL, imported with aiohttp
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}
        self._last_timeout: tuple[dict[str, float | None], aiohttp.ClientTimeout] | None = None
        self._fallback: PooledTransport | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp
        from yarl import URL

        self._url_class = URL

        if self._closed:
            raise RuntimeError("the transport is closed")
        if sniffio.current_async_library() != "asyncio":
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

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    def client_timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for an httpx request's ``timeout`` extension."""
        # Most requests carry the client's own timeout dict: remembered by identity (the entry
        # keeps the dict alive, so its id is not reused while it is cached).
        last = self._last_timeout
        if last is not None and last[0] is timeout:
            return last[1]
        found = self._lookup_timeout(timeout)
        self._last_timeout = (timeout, found)
        return found

    def _lookup_timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
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
        if respx_active():
            return await self._respx_route(request)
        try:
            data: Any = request.content or None
            headers = request_headers(request.headers, streamed=False)
        except httpx.RequestNotRead:
            body = request.stream
            if not isinstance(body, AsyncIterable):
                raise TypeError("an async transport needs an async request body") from None
            data = _body(body)
            headers = request_headers(request.headers, streamed=True)
        answer = await self.open(
            request.method,
            # httpx already percent-encoded the URL; encoded=True keeps it byte for byte.
            self.url(request.url),
            headers,
            data,
            self.client_timeout(request.extensions.get("timeout", {})),
            request.extensions.get("sni_hostname"),
        )
        return self.to_httpx(answer, await self.body_stream(answer), request)

    def url(self, url: httpx.URL) -> Any:
        """``url`` as the ``yarl.URL`` aiohttp takes."""
        if self._url_class is None:
            from yarl import URL

            self._url_class = URL
        return yarl_url(url, self._url_class)

    async def open(
        self,
        method: str,
        url: Any,
        headers: Any,
        data: Any,
        timeout: aiohttp.ClientTimeout,
        server_hostname: str | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request and return aiohttp's answer, its head read and its body not yet.

        Every aiohttp or OS error is raised as the httpx exception for what happened.
        """
        session = self._session or self._open()
        try:
            return await session.request(
                method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
                server_hostname=server_hostname,
            )
        except Exception as exc:
            mapped = map_aiohttp_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def read(self, answer: aiohttp.ClientResponse) -> bytes:
        """The whole body of ``answer`` (the connection goes back to the pool at its end)."""
        try:
            return await answer.read()
        except Exception as exc:
            answer.close()
            mapped = map_aiohttp_error(exc)
            if mapped is None:
                raise
            raise mapped from exc
        except BaseException:
            answer.close()
            raise

    async def body_stream(self, answer: aiohttp.ClientResponse) -> httpx.AsyncByteStream:
        """``answer``'s body as an httpx stream: read in full now when it is small enough."""
        length = answer.content_length
        if length is not None and length <= EAGER_READ_LIMIT:
            return WholeBody(await self.read(answer), answer.headers.get("Content-Encoding", ""))
        return _AiohttpStream(answer)

    @staticmethod
    def to_httpx(
        answer: aiohttp.ClientResponse, stream: httpx.AsyncByteStream, request: httpx.Request
    ) -> httpx.Response:
        """The ``httpx.Response`` for ``answer`` with body ``stream``, as sent for ``request``."""
        return httpx_response(answer.status, answer.reason, answer.raw_headers, stream, request)

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


def request_headers(headers: httpx.Headers, *, streamed: bool = False) -> Any:
    """A request's headers as aiohttp takes them: a dict of strings, or pairs when needed."""
    # Headers.multi_items() looks the encoding up again for every name and value. A dict of
    # strings is one object the cyclic collector never tracks, where a list of pairs is one per
    # header, each alive (and scanned by every young pass) for the whole exchange.
    raw = headers.raw
    if streamed:
        # aiohttp frames a streamed body itself and refuses a preset framing header.
        raw = [(k, v) for k, v in raw if k.lower() != b"transfer-encoding"]
    try:
        # httpx's rule is ASCII when every name and value is ASCII: try that first, instead of
        # asking Headers.encoding, which decodes every header once more to find out.
        encoding = "ascii"
        as_dict = {k.decode(encoding): v.decode(encoding) for k, v in raw}
    except UnicodeDecodeError:
        encoding = headers.encoding
        as_dict = {k.decode(encoding): v.decode(encoding) for k, v in raw}
    if len(as_dict) == len(raw):
        return as_dict
    return [(k.decode(encoding), v.decode(encoding)) for k, v in raw]  # a repeated name


async def _body(stream: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


def httpx_response(
    status: int,
    reason: str | None,
    raw_headers: Iterable[tuple[bytes, bytes]],
    stream: httpx.AsyncByteStream,
    request: httpx.Request,
) -> httpx.Response:
    """The ``httpx.Response`` a transport returns for an aiohttp answer's status line and head."""
    extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
    if reason:
        extensions["reason_phrase"] = reason.encode("ascii", "replace")
    return transport_response(
        status, headers_from_raw(list(raw_headers)), stream, request, extensions
    )
