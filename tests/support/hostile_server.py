"""A deliberately misbehaving HTTP/1.1 server on 127.0.0.1, for tests.

Raw asyncio sockets in a thread of its own, so tests on asyncio and on trio can both use it and
it can do what no well-behaved server library allows: lie about lengths, trickle bytes,
never finish, send compression bombs. Each test sets :attr:`HostileServer.handler`, a coroutine
that gets the parsed request and the raw writer and sends whatever it likes; the connection is
closed when it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache

MIB = 1024 * 1024


@dataclass
class Request:
    """One request as the server read it (header names lower-cased)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    raw_head: bytes = field(default=b"", repr=False)


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def head(status: int, headers: list[tuple[str, str]] | None = None) -> bytes:
    """A status line and header section (``Connection: close`` added)."""
    lines = [f"HTTP/1.1 {status} X"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


async def send(writer: asyncio.StreamWriter, data: bytes, piece: int = 64 * 1024) -> None:
    """Write ``data`` in pieces, waiting for the client to take each."""
    view = memoryview(data)
    for i in range(0, len(view), piece):
        writer.write(view[i : i + piece])
        await writer.drain()


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    *,
    chunked: bool = False,
) -> None:
    """A complete answer, framed by Content-Length or as one or more chunks."""
    headers = list(headers or [])
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
        writer.write(head(status, headers))
        piece = 64 * 1024
        for i in range(0, len(body), piece):
            await send(writer, chunk(body[i : i + piece]))
        await send(writer, b"0\r\n\r\n")
    else:
        headers.append(("Content-Length", str(len(body))))
        writer.write(head(status, headers))
        await send(writer, body)


async def trickle(
    writer: asyncio.StreamWriter, data: bytes, interval: float, *, limit: float = 30.0
) -> None:
    """Send ``data`` one byte every ``interval`` seconds (for at most ``limit`` seconds)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    for i in range(len(data)):
        if loop.time() > end:
            return
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(interval)


class HostileServer:
    """The server; ``url`` is ``http://127.0.0.1:<port>``. Use as a context manager."""

    def __init__(self) -> None:
        self.handler: Handler = _not_found
        self.requests: list[Request] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> asyncio.AbstractServer:
        return await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=1 << 20)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            request = _parse(raw)
            length = int(request.headers.get("content-length", "0") or 0)
            if length:
                request.body = await reader.readexactly(length)
            self.requests.append(request)
            await self.handler(request, writer)
            await _flushed(writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            writer.transport.abort()


async def _flushed(writer: asyncio.StreamWriter) -> None:
    """Wait until all a handler wrote has left for the socket (up to 5 s).

    ``drain()`` returns once the buffer is under its high-water mark (64 KiB), and the
    ``abort()`` that ends every connection drops whatever is still buffered: without this, the
    tail of an answer was lost now and then, and a complete body arrived truncated.
    """
    writer.transport.set_write_buffer_limits(high=0)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(writer.drain(), 5)


def _parse(raw: bytes) -> Request:
    lines = raw.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return Request(method, target, headers, raw_head=raw)


async def _not_found(request: Request, writer: asyncio.StreamWriter) -> None:
    await respond(writer, 404, b"{}", [("Content-Type", "application/json")])


# -- bombs ------------------------------------------------------------------------------------


def _deflate_blocks(wbits: int, total: int) -> Iterator[bytes]:
    """A valid deflate stream (header per ``wbits``) of ``total`` zero bytes, built in O(1) work.

    After a full flush the compressor starts afresh, so every further MiB of zeros compresses
    to the same bytes: one block is repeated, then a final empty block and the trailer closed.
    """
    assert total % MIB == 0 and total >= 2 * MIB
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(MIB)
    yield z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(zeros) + z.flush(zlib.Z_FULL_FLUSH)
    for _ in range(total // MIB - 1):
        yield block
    yield b"\x03\x00"  # an empty final block (fixed Huffman)
    if wbits > 16:  # gzip trailer: CRC-32 and size mod 2**32, little-endian
        crc = 0
        for _ in range(total // MIB):
            crc = zlib.crc32(zeros, crc)
        yield struct.pack("<II", crc, total & 0xFFFFFFFF)
    elif wbits > 0:  # zlib trailer: Adler-32, big-endian
        adler = 1
        for _ in range(total // MIB):
            adler = zlib.adler32(zeros, adler)
        yield struct.pack(">I", adler)


@cache
def bomb(encoding: str, total: int = 1024 * MIB) -> bytes:
    """``total`` zero bytes compressed with ``encoding`` (gzip, deflate, deflate-raw, br, zstd)."""
    if encoding == "gzip":
        return b"".join(_deflate_blocks(zlib.MAX_WBITS | 16, total))
    if encoding == "deflate":
        return b"".join(_deflate_blocks(zlib.MAX_WBITS, total))
    if encoding == "deflate-raw":
        return b"".join(_deflate_blocks(-zlib.MAX_WBITS, total))
    zeros = bytes(MIB)
    if encoding == "br":
        import brotli

        c = brotli.Compressor(quality=1)
        return b"".join(c.process(zeros) for _ in range(total // MIB)) + c.finish()
    if encoding == "zstd":
        import zstandard

        z = zstandard.ZstdCompressor(level=1).compressobj()
        return b"".join(z.compress(zeros) for _ in range(total // MIB)) + z.flush()
    raise ValueError(encoding)


@contextlib.contextmanager
def serving() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server
