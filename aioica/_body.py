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
one step. Then the JSON: :func:`decode_json` and :func:`check_page_shape` say what a 2xx body
must be.
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

import httpx

from ._compat import set_response_content
from ._direct import Answer, as_response
from ._errors import InvalidResponseError
from ._transports._pooled import WholeBody
from ._wiretext import loads_page

__all__ = [
    "DECODE_STEP",
    "SUPPORTED_ENCODINGS",
    "bad_response",
    "check_page_shape",
    "decode_json",
    "read_capped",
    "read_whole",
]

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


def _decoder(response: httpx.Response, header: str | None = None) -> _Decoder:
    if header is None:
        header = response.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) > 1:
        # Each extra layer multiplies what one step could expand to; nobody asked for it.
        raise _refused(response, f"stacked Content-Encoding {header[:40]!r}")
    coding = codings[0]
    if coding in ("gzip", "x-gzip"):
        return _Inflate(zlib.MAX_WBITS | 16)
    if coding == "deflate":
        return _Inflate(zlib.MAX_WBITS, sniff_raw=True)
    raise _refused(response, f"Content-Encoding {coding[:20]!r} (aioica asks for gzip only)")


def _refused(response: httpx.Response, what: str) -> InvalidResponseError:
    return bad_response(response, f"refusing {what}")


async def read_capped(response: httpx.Response, limit: int) -> bool:
    """Read and decode a streamed body of at most ``limit`` bytes into ``response.content``.

    Returns ``False`` (response closed, body not kept) when the body, raw or decoded, is larger.
    Raises :class:`InvalidResponseError` for a content coding aioica does not decode or a body
    that is not valid in its coding.
    """
    stream = response.stream
    if isinstance(stream, WholeBody):
        return read_whole(response, stream, limit)
    try:
        # Built in process with ``content=`` (a mock transport): already read and decoded.
        return len(response.content) <= limit
    except httpx.ResponseNotRead:
        pass
    decoder = _decoder(response)
    kept = io.BytesIO()  # getvalue() hands its buffer over without a copy
    raw_size = 0
    body = response.aiter_raw()
    try:
        async for chunk in body:
            raw_size += len(chunk)
            if raw_size > limit or not _feed(decoder, chunk, kept, limit):
                break
        else:
            set_response_content(response, kept.getvalue())
            return True
    except zlib.error:
        await _abandon(response, body)
        raise _invalid(response) from None
    await _abandon(response, body)
    return False


def _feed(decoder: _Decoder, chunk: bytes, kept: io.BytesIO, limit: int) -> bool:
    """Decode ``chunk`` into ``kept``; False as soon as the decoded body would exceed ``limit``."""
    for piece in decoder.decode(chunk):
        if kept.tell() + len(piece) > limit:
            return False
        kept.write(piece)
    return True


def read_whole(response: httpx.Response, body: WholeBody, limit: int) -> bool:
    """:func:`read_capped` for a body the transport has read in full: no awaiting needed."""
    # Decoded in place, with the same bounds; the response is marked read and closed as
    # iterating and closing it would (there is nothing to give back: the connection went back
    # to its pool when the body ended).
    response.is_stream_consumed = True
    response.is_closed = True
    raw = body.raw
    if len(raw) > limit:
        return False
    coding = body.coding
    if coding is None:
        coding = response.headers.get("content-encoding", "")
    if not coding:
        set_response_content(response, raw)
        return True
    if coding == "gzip":
        # The whole body is here, so one inflate call capped at limit + 1 bytes out does what
        # the steps of _Inflate do (the same bound on memory, the same refusal past the cap)
        # without a generator and a buffer per response. Nothing is awaited between steps
        # either way.
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            decoded = inflate.decompress(raw, limit + 1)
        except zlib.error:
            raise _invalid(response) from None
        if len(decoded) > limit:
            return False
        set_response_content(response, decoded)
        return True
    decoder = _decoder(response, coding)
    if isinstance(decoder, _Identity):
        set_response_content(response, raw)
        return True
    kept = io.BytesIO()
    try:
        if not _feed(decoder, raw, kept, limit):
            return False
    except zlib.error:
        raise _invalid(response) from None
    set_response_content(response, kept.getvalue())
    return True


def _invalid(response: httpx.Response) -> InvalidResponseError:
    coding = response.headers.get("content-encoding", "")[:20]
    return bad_response(response, f"the body is not valid {coding}")


def bad_response(response: httpx.Response, what: str) -> InvalidResponseError:
    """:class:`InvalidResponseError` for ``response``, saying ``what`` after its method and path."""
    request = response.request
    return InvalidResponseError(
        f"{request.method} {request.url.path}: {what}", request=request, response=response
    )


async def _abandon(response: httpx.Response, body: AsyncIterator[bytes]) -> None:
    # Close the connection, then let httpx's generator chain run to its (immediate) end: a
    # half-consumed async generator left to the garbage collector makes trio warn.
    await response.aclose()
    try:
        async for _ in body:
            pass
    except Exception:
        pass


def decode_json(response: Answer, *, what: str, keep_text: frozenset[str] | None = None) -> Any:
    """Parse a 2xx body as a JSON object, or raise :class:`InvalidResponseError`.

    With ``keep_text``, page items keep their wire text (:func:`~aioica._wiretext.loads_page`).
    """
    try:
        if keep_text is None:
            data = json.loads(response.content)
        else:
            data = loads_page(response.content, keep_text)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        full = as_response(response)
        ctype = full.headers.get("content-type", "no content type").split(";")[0]
        raise bad_response(
            full,
            f"expected a JSON {what}, got an unparsable {ctype} body ({type(exc).__name__})",
        ) from None
    if not isinstance(data, dict):
        raise bad_response(
            as_response(response), f"expected a JSON object ({what}), got {type(data).__name__}"
        )
    return data


def check_page_shape(data: dict[str, Any], answer: Answer, *, paged: bool) -> None:
    """Reject a body whose structure cannot be a page: items not a list, a bad cursor."""
    items = data.get("items")
    if items is not None and not isinstance(items, list):
        raise bad_response(as_response(answer), f"'items' is {type(items).__name__}, not a list")
    if not paged:
        return
    token = data.get("nextPageToken")
    if token is None:
        return
    problem = None
    if not isinstance(token, str):
        problem = f"'nextPageToken' is {type(token).__name__}, not a string"
    elif not _encodable(token):
        problem = "'nextPageToken' is not valid Unicode (a lone surrogate) and cannot be sent back"
    elif len(token) > 2000:
        problem = f"'nextPageToken' is {len(token)} characters long; the API promises at most 2000"
    if problem is not None:
        raise bad_response(as_response(answer), problem)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
