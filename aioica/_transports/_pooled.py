"""The pooled httpx transport: several small httpcore pools, least loaded first (asyncio and trio).

httpcore's per-event cost grows with the connections and queued requests of one pool (every
pool event scans every queued request against every connection), so small pools are cheap.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator

import httpx

__all__ = [
    "EAGER_READ_LIMIT",
    "KEEPALIVE_EXPIRY",
    "POOL_SIZE",
    "PooledTransport",
    "WholeBody",
    "small",
]

#: Connections per httpcore pool. Measured best at 4.
POOL_SIZE = 4

#: Bodies with a declared length up to this are read inside the transport, in one go: it saves
#: the per-chunk async iteration and frees the connection at once. Larger or unsized bodies are
#: streamed, so a caller's size cap still applies before they are read.
EAGER_READ_LIMIT = 1 << 20

#: httpx's default keep-alive expiry, kept for aiohttp too so both behave alike.
KEEPALIVE_EXPIRY = 5.0


class WholeBody(httpx.ByteStream):
    """A response body the transport has read in full, still in its content coding.

    ``_body.read_whole`` takes ``raw`` as it is, without the per-response async iteration
    and close; anyone else iterates it like any ``httpx.ByteStream``. ``coding`` is the
    ``Content-Encoding`` header's value when the transport looked it up cheaply, else None.
    """

    __slots__ = ("coding", "raw")

    def __init__(self, raw: bytes, coding: str | None = None) -> None:
        super().__init__(raw)
        self.raw = raw
        self.coding = coding


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
    ``max_connections``. Keep-alive, timeouts and TLS behave as ``httpx.AsyncHTTPTransport``'s;
    ``proxy`` sends every request through that proxy (``http://``, ``https://`` or, with
    ``httpx[socks]``, ``socks5://``).
    """

    def __init__(
        self,
        *,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
        pool_size: int = POOL_SIZE,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
        proxy: str | None = None,
    ) -> None:
        ctx = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        n = max(1, math.ceil(max_connections / max(1, pool_size)))
        sizes = [max_connections // n + (1 if i < max_connections % n else 0) for i in range(n)]
        self.pool_sizes = tuple(sizes)
        self._pools = [
            httpx.AsyncHTTPTransport(
                verify=ctx,
                proxy=proxy,
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
        if small(response.headers):
            try:
                body = b"".join([chunk async for chunk in stream])
            finally:
                counts[index] -= 1
                await stream.aclose()
            return httpx.Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=WholeBody(body),
                extensions=response.extensions,
                request=request,
            )
        response.stream = _CountedStream(stream, counts, index)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


def small(headers: httpx.Headers) -> bool:
    length = headers.get("content-length")
    return length is not None and length.isdigit() and int(length) <= EAGER_READ_LIMIT
