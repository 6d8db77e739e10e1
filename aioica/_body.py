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
one step.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import httpx

from ._compat import set_response_content
from ._errors import InvalidResponseError

__all__ = ["DECODE_STEP", "SUPPORTED_ENCODINGS", "read_capped"]

#: Most bytes one inflate step may produce.
DECODE_STEP = 64 * 1024

#: The content codings aioica decodes (it sends ``Accept-Encoding: gzip``).
SUPPORTED_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data


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


def _decoder(response: httpx.Response, where: str) -> _Decoder:
    header = response.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) > 1:
        # Each extra layer multiplies what one step could expand to; nobody asked for it.
        raise _refused(response, where, f"stacked Content-Encoding {header[:40]!r}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return _Inflate(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _Inflate(zlib.MAX_WBITS, sniff_raw=True)
    raise _refused(response, where, f"Content-Encoding {coding[:20]!r} (aioica asks for gzip only)")


def _refused(response: httpx.Response, where: str, what: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"{where}: refusing {what}", request=response.request, response=response
    )


async def read_capped(response: httpx.Response, limit: int) -> bool:
    """Read and decode a streamed body of at most ``limit`` bytes into ``response.content``.

    Returns ``False`` (response closed, body not kept) when the body, raw or decoded, is larger.
    Raises :class:`InvalidResponseError` for a content coding aioica does not decode or a body
    that is not valid in its coding.
    """
    try:
        # Built in process with ``content=`` (a mock transport): already read and decoded.
        return len(response.content) <= limit
    except httpx.ResponseNotRead:
        pass
    request = response.request
    where = f"{request.method} {request.url.path}"
    decoder = _decoder(response, where)
    kept = io.BytesIO()  # getvalue() hands its buffer over without a copy
    raw_size = 0
    body = response.aiter_raw()
    try:
        async for chunk in body:
            raw_size += len(chunk)
            if raw_size > limit:
                break
            for piece in decoder.decode(chunk):
                if kept.tell() + len(piece) > limit:
                    break
                kept.write(piece)
            else:
                continue
            break
        else:
            set_response_content(response, kept.getvalue())
            return True
    except zlib.error:
        await _abandon(response, body)
        raise InvalidResponseError(
            f"{where}: the body is not valid {response.headers.get('content-encoding', '')[:20]}",
            request=request,
            response=response,
        ) from None
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
