"""A body the transport read in full (``WholeBody``) is decoded in place by ``read_whole``, with
the same bounds and errors as the streamed reader."""

from __future__ import annotations

import gzip
import zlib

import httpx
import pytest

import aioica
from aioica._body import read_whole
from aioica._transports._pooled import WholeBody

DOC = b'{"items": [' + b",".join(b'{"id": "%d"}' % i for i in range(2000)) + b"]}"


def _answer(
    raw: bytes, coding: str | None, header: str | None = None
) -> tuple[httpx.Response, WholeBody]:
    body = WholeBody(raw, coding)
    headers = {"Content-Encoding": header} if header else {}
    request = httpx.Request("GET", "https://ica.example/ica/rest/api/projects/p/workflowSessions")
    return httpx.Response(200, headers=headers, stream=body, request=request), body


@pytest.mark.parametrize(
    ("raw", "coding", "header"),
    [
        (DOC, "", None),
        (DOC, None, None),
        (gzip.compress(DOC), "gzip", "gzip"),
        (gzip.compress(DOC), None, "gzip"),  # the transport did not look the coding up
        (gzip.compress(DOC), "GZIP", "GZIP"),
        (gzip.compress(DOC), "x-gzip", "x-gzip"),
        (zlib.compress(DOC), "deflate", "deflate"),
        (DOC, "identity", "identity"),
    ],
)
def test_decodes_in_place(raw: bytes, coding: str | None, header: str | None) -> None:
    response, body = _answer(raw, coding, header)
    assert read_whole(response, body, limit=len(DOC))
    assert response.content == DOC
    assert response.is_stream_consumed and response.is_closed


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_the_decoded_cap_is_exact(coding: str) -> None:
    raw = gzip.compress(DOC) if coding == "gzip" else zlib.compress(DOC)
    response, body = _answer(raw, coding, coding)
    assert read_whole(response, body, limit=len(DOC))
    response, body = _answer(raw, coding, coding)
    assert not read_whole(response, body, limit=len(DOC) - 1)


def test_a_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))
    response, body = _answer(bomb, "gzip", "gzip")
    assert not read_whole(response, body, limit=1 << 20)


def test_raw_over_the_cap_is_refused_before_decoding() -> None:
    response, body = _answer(DOC, "", None)
    assert not read_whole(response, body, limit=len(DOC) - 1)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_corrupt_body_is_a_typed_error(coding: str) -> None:
    good = gzip.compress(DOC) if coding == "gzip" else zlib.compress(DOC)
    bad = good[:20] + bytes(b ^ 0x5A for b in good[20:60]) + good[60:]
    response, body = _answer(bad, coding, coding)
    with pytest.raises(aioica.InvalidResponseError, match=f"not valid {coding}"):
        read_whole(response, body, limit=len(DOC))


def test_an_unasked_coding_is_refused() -> None:
    response, body = _answer(DOC, "br", "br")
    with pytest.raises(aioica.InvalidResponseError, match="refusing"):
        read_whole(response, body, limit=len(DOC))
