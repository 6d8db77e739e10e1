"""Reading a response body with bounded memory: a size cap and bounded decompression.

httpx's own decoders inflate each network chunk in one call, however much it expands to (a
1 MB gzip chunk of zeros becomes 1 GB before any size check can run), and decode br and zstd
whenever those codecs are importable, asked for or not. aioica therefore reads the *raw* body
(``Response.aiter_raw``) and decodes it here:

- ``identity`` (or no ``Content-Encoding``), ``gzip``/``x-gzip`` and ``deflate`` (zlib-wrapped
  or raw) are decoded, each inflate step producing at most :data:`DECODE_STEP` bytes, and the
  decoded size is checked after every step;
- any other coding (``br``, ``zstd``, ``compress``, stacked codings such as ``gzip, gzip``) is
  refused: aioica asks for ``gzip`` only;
- the raw (on-the-wire) size is capped by the same limit, so a stream of empty deflate blocks
  cannot run forever either.

Peak memory for one body is about ``limit`` (the decoded bytes kept) plus one network chunk plus
one step. A body the transport already read into memory (one ``httpx.ByteStream``, as aioica's
transports hand over small bodies) is decoded from its bytes directly, under the same rules,
without a trip through httpx's stream iterators.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import httpx

from ._errors import InvalidResponseError
from ._fastpath import _TimedStream

__all__ = ["DECODE_STEP", "SUPPORTED_ENCODINGS", "read_capped"]

#: Most bytes one inflate step may produce.
DECODE_STEP = 64 * 1024

#: The content codings aioica decodes (it sends ``Accept-Encoding: gzip``).
SUPPORTED_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...


class _Inflate:
    """gzip or deflate with at most :data:`DECODE_STEP` bytes out per step."""

    def __init__(self, wbits: int, *, sniff_raw: bool = False) -> None:
        self._obj = zlib.decompressobj(wbits)
        # "deflate" is zlib-wrapped by the RFC but raw deflate in some servers: httpx accepts
        # both, so the first bytes decide, as they do there.
        self._sniff_raw = sniff_raw

    def decode(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._obj.decompress(data, DECODE_STEP)
            except zlib.error:
                if not self._sniff_raw:
                    raise
                self._sniff_raw = False
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._sniff_raw = False
            if out:
                yield out
            data = self._obj.unconsumed_tail
            # A full step may leave output pending inside zlib even with no input left.
            if not data and len(out) < DECODE_STEP:
                return


def _decoder(response: httpx.Response) -> _Decoder | None:
    """The body's decoder; ``None`` for an unencoded body (its bytes are kept as they are)."""
    header = response.headers.get("content-encoding")
    if not header:
        return None
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) > 1:
        # Each extra layer multiplies what one step could expand to; nobody asked for it.
        raise _refused(response, f"stacked Content-Encoding {header[:40]!r}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return _Inflate(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _Inflate(zlib.MAX_WBITS, sniff_raw=True)
    raise _refused(response, f"Content-Encoding {coding[:20]!r} (aioica asks for gzip only)")


def _where(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url.path}"


def _refused(response: httpx.Response, what: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"{_where(response)}: refusing {what}", request=response.request, response=response
    )


def _invalid(response: httpx.Response) -> InvalidResponseError:
    return InvalidResponseError(
        f"{_where(response)}: the body is not valid "
        f"{response.headers.get('content-encoding', '')[:20]}",
        request=response.request,
        response=response,
    )


def _read_body(response: httpx.Response) -> bytes | None:
    """The whole raw body when the transport already read it into one ``httpx.ByteStream``.

    internals: ``ByteStream._stream`` (the bytes) and ``_TimedStream._stream`` (the fast send
    path's wrapper); anything else is read through ``aiter_raw``.
    """
    stream = response.stream
    if type(stream) is _TimedStream:
        stream = stream._stream
    if type(stream) is not httpx.ByteStream:
        return None
    body = getattr(stream, "_stream", None)
    if type(body) is not bytes or response.is_stream_consumed or response.is_closed:
        return None
    # What aiter_raw would have recorded.
    response.is_stream_consumed = True
    response._num_bytes_downloaded = len(body)
    return body


def _decode_whole(decoder: _Decoder, body: bytes, limit: int) -> bytes | None:
    """``body`` decoded, or ``None`` once the decoded size passes ``limit``."""
    pieces = []
    size = 0
    for piece in decoder.decode(body):
        size += len(piece)
        if size > limit:
            return None
        pieces.append(piece)
    # A page rarely passes one step: then its bytes are kept as zlib made them, uncopied.
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


async def read_capped(response: httpx.Response, limit: int) -> bool:
    """Read and decode a streamed body of at most ``limit`` bytes into ``response.content``.

    Returns ``False`` (response closed, body not kept) when the body, raw or decoded, is larger.
    Raises :class:`InvalidResponseError` for a content coding aioica does not decode or a body
    that is not valid in its coding.
    """
    if hasattr(response, "_content"):
        # Built in process with ``content=`` (a mock transport): already read and decoded.
        return len(response.content) <= limit
    decoder = _decoder(response)
    whole = _read_body(response)
    if whole is not None:
        # Read by the transport already (a small body): one chunk, decoded here directly.
        content: bytes | None = None
        if len(whole) <= limit:
            try:
                content = whole if decoder is None else _decode_whole(decoder, whole, limit)
            except zlib.error:
                await response.aclose()
                raise _invalid(response) from None
        # Closing an in-memory body waits on nothing (the transport gave its connection back).
        await response.aclose()
        if content is None:
            return False
        response._content = content
        return True
    kept = io.BytesIO()  # getvalue() hands its buffer over without a copy
    raw_size = 0
    body = response.aiter_raw()
    try:
        async for chunk in body:
            raw_size += len(chunk)
            if raw_size > limit:
                break
            pieces = (chunk,) if decoder is None else decoder.decode(chunk)
            for piece in pieces:
                if kept.tell() + len(piece) > limit:
                    break
                kept.write(piece)
            else:
                continue
            break
        else:
            response._content = kept.getvalue()
            return True
    except zlib.error:
        await _abandon(response, body)
        raise _invalid(response) from None
    await _abandon(response, body)
    return False


async def _abandon(response: httpx.Response, body: AsyncIterator[bytes]) -> None:
    # Close the connection, then let httpx's generator chain run to its (immediate) end: a
    # half-consumed async generator left to the garbage collector makes trio warn.
    await response.aclose()
    try:
        async for _ in body:
            pass
    except Exception:
        pass
