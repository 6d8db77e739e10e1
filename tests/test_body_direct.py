"""A body the transport already read is decoded straight from its bytes, with every bound of
``read_capped`` kept (issues #11 and #15)."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import httpx
import pytest

import aioica
from aioica._body import read_capped
from aioica._fastpath import _TimedStream

MIB = 1 << 20
BODY = b'{"items": [' + b",".join(b'{"name": "x%d"}' % i for i in range(5000)) + b"]}"


@pytest.fixture(autouse=True)
def no_generator_chain(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts trips through httpx's ``aiter_raw``: an in-memory body must not take one."""
    calls: list[int] = []
    original = httpx.Response.aiter_raw

    def counted(self: httpx.Response, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.Response, "aiter_raw", counted)
    return calls


def response(wire: bytes, encoding: str | None, *, timed: bool = True) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if encoding:
        headers["content-encoding"] = encoding
    stream: httpx.AsyncByteStream = httpx.ByteStream(wire)
    got = httpx.Response(
        200, headers=headers, stream=stream, request=httpx.Request("GET", "http://ica/x")
    )
    if timed:
        got.stream = _TimedStream(stream, got, 0.0)
    return got


def deflate_raw(data: bytes) -> bytes:
    z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return z.compress(data) + z.flush()


@pytest.mark.parametrize("timed", [True, False])
@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (None, lambda d: d),
        ("identity", lambda d: d),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", deflate_raw),
    ],
)
@pytest.mark.anyio
async def test_in_memory_body_is_decoded_without_httpx_stream(
    no_generator_chain: list[int], encoding: str | None, encode: Any, timed: bool
) -> None:
    wire = encode(BODY)
    got = response(wire, encoding, timed=timed)
    assert await read_capped(got, 10 * MIB)
    assert got.content == BODY
    assert got.num_bytes_downloaded == len(wire)
    assert got.is_stream_consumed and got.is_closed
    assert no_generator_chain == []
    if timed:
        assert got.elapsed is not None  # set on close, as httpx's own stream wrapper does


@pytest.mark.anyio
async def test_in_memory_bomb_stops_at_the_cap() -> None:
    wire = gzip.compress(bytes(16 * MIB))
    got = response(wire, "gzip")
    assert not await read_capped(got, 2 * MIB)
    assert got.is_closed and not hasattr(got, "_content")


@pytest.mark.parametrize("size", [2 * MIB, 2 * MIB + 1])
@pytest.mark.anyio
async def test_in_memory_raw_size_is_capped_exactly(size: int) -> None:
    got = response(bytes(size), None)
    assert await read_capped(got, 2 * MIB) is (size <= 2 * MIB)
    assert got.is_closed


@pytest.mark.anyio
async def test_in_memory_corrupt_gzip_is_an_invalid_response() -> None:
    wire = gzip.compress(BODY)
    got = response(wire[:20] + bytes(40) + wire[60:], "gzip")
    with pytest.raises(aioica.InvalidResponseError, match="not valid gzip"):
        await read_capped(got, 10 * MIB)
    assert got.is_closed


@pytest.mark.anyio
async def test_in_memory_unknown_coding_is_refused() -> None:
    got = response(b"\x1f\x9d" + bytes(100), "compress")
    with pytest.raises(aioica.InvalidResponseError, match="refusing"):
        await read_capped(got, 10 * MIB)


class Chunks(httpx.AsyncByteStream):
    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self._chunks:
            yield chunk


@pytest.mark.anyio
async def test_a_streamed_body_still_goes_through_aiter_raw(no_generator_chain: list[int]) -> None:
    wire = gzip.compress(BODY)
    got = httpx.Response(
        200,
        headers={"content-encoding": "gzip"},
        stream=Chunks(wire[:100], wire[100:]),
        request=httpx.Request("GET", "http://ica/x"),
    )
    assert await read_capped(got, 10 * MIB)
    assert got.content == BODY
    assert no_generator_chain == [1]
