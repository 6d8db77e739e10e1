"""A real hostile server over loopback, on every transport: bombs, lies, trickles, redirects.

Each test runs on the aiohttp-backed transport (asyncio) and on the pooled httpx transport
(asyncio and trio), against :class:`~tests.support.hostile_server.HostileServer`. Where the
promise is about memory or time, the test measures it with bounds that are generous yet far
below what a broken client would use (a 512 MiB bomb against a 2 MB cap; a 30 s trickle against
a 1 s deadline).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

import aioica
import aioica.cli
from tests.support.hostile_server import (
    MIB,
    HostileServer,
    Request,
    bomb,
    chunk,
    head,
    respond,
    send,
    trickle,
)
from tests.support.payloads import SID

pytestmark = pytest.mark.tcp

KEY = "sekret-api-key-0123456789"
INPUTS = f"/ica/rest/api/projects/p/workflowSessions/{SID}/inputs"
JSON = ("Content-Type", "application/vnd.illumina.v3+json")
CAP = 2_000_000
BOMB = 512 * MIB  # ~530 KB of gzip on the wire: small enough to be read in one go

STACKS = {
    "asyncio-aiohttp": ("asyncio", "aiohttp"),
    "asyncio-httpx": ("asyncio", "httpx"),
    "trio-httpx": ("trio", "httpx"),
}


@pytest.fixture(params=sorted(STACKS))
def stack(request: pytest.FixtureRequest) -> tuple[str, str]:
    return STACKS[request.param]


@pytest.fixture
def anyio_backend(stack: tuple[str, str]) -> str:
    return stack[0]


@pytest.fixture
def transport(stack: tuple[str, str]) -> str:
    return stack[1]


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as s:
        yield s


def open_session(server: HostileServer, transport: str, **kwargs: Any) -> aioica.Session:
    kwargs.setdefault("auth", aioica.ApiKeyAuth(KEY))
    kwargs.setdefault("retry", aioica.RetryPolicy.none())
    kwargs.setdefault("timeout", httpx.Timeout(5.0))
    return aioica.Session(base_url=server.url + "/ica/rest", transport=transport, **kwargs)


def page(n: int) -> bytes:
    items = [{"name": f"input-{i}", "values": ["x" * 40]} for i in range(n)]
    return json.dumps({"items": items}).encode()


class Peak:
    """Peak memory Python allocated (all threads) while the block ran, in bytes."""

    def __enter__(self) -> Peak:
        tracemalloc.start()
        self.value = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.value = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


# -- decompression -------------------------------------------------------------------------------


def _encode(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "deflate-raw":
        z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return z.compress(data) + z.flush()
    return data


@pytest.mark.anyio
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw", "identity"])
async def test_compressed_page_within_the_cap_is_decoded(
    server: HostileServer, transport: str, encoding: str, framing: str
) -> None:
    body = page(3000)  # ~250 KB decoded: several inflate steps
    wire = _encode(encoding, body)
    header = "deflate" if encoding == "deflate-raw" else encoding

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = [JSON, ("Content-Encoding", header)]
        await respond(writer, 200, wire, headers, chunked=framing == "chunked")

    server.handler = handler
    async with open_session(server, transport) as ica:
        result = await ica.get_workflow_session_inputs("p", SID)
    assert len(result.items) == 3000
    assert server.requests[0].headers["accept-encoding"] == "gzip"


@pytest.mark.anyio
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
async def test_compression_bomb_is_refused_in_bounded_memory(
    server: HostileServer, transport: str, encoding: str, framing: str
) -> None:
    wire = bomb(encoding, BOMB)
    header = "deflate" if encoding == "deflate-raw" else encoding

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = [JSON, ("Content-Encoding", header)]
        await respond(writer, 200, wire, headers, chunked=framing == "chunked")

    server.handler = handler
    async with open_session(server, transport, max_response_bytes=CAP) as ica:
        with Peak() as peak:
            with pytest.raises(aioica.InvalidResponseError, match="max_response_bytes"):
                await ica.get_workflow_session_inputs("p", SID)
    # The body kept (2 MB), one network read (<= 1 MiB), one inflate step, the server's own
    # send buffer and interpreter noise; a client that inflates first would need 512 MiB.
    assert peak.value < CAP + 6 * MIB, f"peak {peak.value / MIB:.1f} MiB for a 2 MB cap"


@pytest.mark.anyio
@pytest.mark.parametrize("encoding", ["gzip", "br"])
async def test_bomb_through_a_callers_own_client_is_bounded_too(
    server: HostileServer, transport: str, encoding: str
) -> None:
    if transport == "aiohttp":
        pytest.skip("the caller's client is a plain httpx.AsyncClient: one run per event loop")
    if encoding == "br":
        pytest.importorskip("brotli")
    wire = bomb(encoding, BOMB)

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, wire, [JSON, ("Content-Encoding", encoding)])

    server.handler = handler
    async with httpx.AsyncClient(timeout=5.0) as client:
        async with open_session(
            server, transport, http_client=client, max_response_bytes=CAP
        ) as ica:
            with Peak() as peak:
                with pytest.raises(aioica.InvalidResponseError):
                    await ica.get_workflow_session_inputs("p", SID)
    assert peak.value < CAP + 6 * MIB, f"peak {peak.value / MIB:.1f} MiB"


@pytest.mark.anyio
@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
async def test_encodings_not_asked_for_are_refused_unread(
    server: HostileServer, transport: str, encoding: str
) -> None:
    if encoding == "br":
        pytest.importorskip("brotli")
        wire = bomb("br", BOMB)
    elif encoding == "zstd":
        pytest.importorskip("zstandard")
        wire = bomb("zstd", BOMB)
    elif encoding == "gzip, gzip":
        wire = gzip.compress(bomb("gzip", BOMB))
    else:
        wire = b"\x1f\x9d" + bytes(1000)

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, wire, [JSON, ("Content-Encoding", encoding)])

    server.handler = handler
    async with open_session(server, transport, max_response_bytes=CAP) as ica:
        with Peak() as peak:
            with pytest.raises(aioica.InvalidResponseError, match="refusing") as info:
                await ica.get_workflow_session_inputs("p", SID)
    assert "Content-Encoding" in str(info.value)
    assert peak.value < CAP + 6 * MIB, f"peak {peak.value / MIB:.1f} MiB"


@pytest.mark.anyio
async def test_corrupt_gzip_is_an_invalid_response(server: HostileServer, transport: str) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        wire = gzip.compress(page(10))
        corrupt = wire[:20] + bytes(40) + wire[60:]
        await respond(writer, 200, corrupt, [JSON, ("Content-Encoding", "gzip")])

    server.handler = handler
    async with open_session(server, transport) as ica:
        with pytest.raises(aioica.InvalidResponseError, match="not valid gzip"):
            await ica.get_workflow_session_inputs("p", SID)


# -- lying about lengths -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_declared_length_over_the_cap_is_refused_before_reading(
    server: HostileServer, transport: str
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [JSON, ("Content-Length", str(10 * CAP))]))
        await trickle(writer, b"x" * 1000, 0.05, limit=20)

    server.handler = handler
    started = time.monotonic()
    async with open_session(server, transport, max_response_bytes=CAP) as ica:
        with pytest.raises(aioica.InvalidResponseError, match="max_response_bytes"):
            await ica.get_workflow_session_inputs("p", SID)
    assert time.monotonic() - started < 10


@pytest.mark.anyio
async def test_body_shorter_than_its_length_is_a_connection_error(
    server: HostileServer, transport: str
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [JSON, ("Content-Length", "5000")]) + b'{"items": [')
        await writer.drain()

    server.handler = handler
    async with open_session(server, transport) as ica:
        with pytest.raises(aioica.APIConnectionError):
            await ica.get_workflow_session_inputs("p", SID)


@pytest.mark.anyio
async def test_endless_chunk_is_cut_at_the_cap(server: HostileServer, transport: str) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [JSON, ("Transfer-Encoding", "chunked")]))
        writer.write(b"7fffffff\r\n")
        filler = b"[" * MIB
        for _ in range(512):
            await send(writer, filler)

    server.handler = handler
    async with open_session(server, transport, max_response_bytes=CAP) as ica:
        with Peak() as peak:
            with pytest.raises(aioica.InvalidResponseError, match="max_response_bytes"):
                await ica.get_workflow_session_inputs("p", SID)
    assert peak.value < CAP + 6 * MIB, f"peak {peak.value / MIB:.1f} MiB"


@pytest.mark.anyio
async def test_chunked_stream_of_empty_deflate_blocks_is_cut_at_the_cap(
    server: HostileServer, transport: str
) -> None:
    # Each empty stored block decodes to nothing: only the raw size can end this body.
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(
            head(200, [JSON, ("Transfer-Encoding", "chunked"), ("Content-Encoding", "gzip")])
        )
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        await send(writer, chunk(z.compress(b"") + z.flush(zlib.Z_SYNC_FLUSH)))
        empty = b"\x00\x00\x00\xff\xff" * 200_000  # stored blocks of 0 bytes
        for _ in range(40):
            await send(writer, chunk(empty))

    server.handler = handler
    async with open_session(server, transport, max_response_bytes=CAP) as ica:
        with pytest.raises(aioica.InvalidResponseError, match="max_response_bytes"):
            await ica.get_workflow_session_inputs("p", SID)


@pytest.mark.anyio
@pytest.mark.parametrize("shape", ["many-headers", "one-endless-header"])
async def test_endless_header_section_is_a_typed_error_in_bounded_memory(
    server: HostileServer, transport: str, shape: str
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Pad: " + b"a" * 50 + b"\r\n" if shape == "many-headers" else b"a" * 4096
        filler = line * (MIB // len(line))
        if shape == "one-endless-header":
            writer.write(b"X-Pad: ")
        for _ in range(256):
            await send(writer, filler)

    server.handler = handler
    async with open_session(server, transport) as ica:
        with Peak() as peak:
            with pytest.raises(aioica.APIConnectionError):
                await ica.get_workflow_session_inputs("p", SID)
    assert peak.value < 8 * MIB, f"peak {peak.value / MIB:.1f} MiB"


# -- time: the whole-request deadline ----------------------------------------------------------

# Deadline = connect + write + read + pool = 1 s; the server sends a byte every 50 ms, well
# inside the 250 ms read timeout, for up to 30 s.
TIGHT = httpx.Timeout(0.25)
TRICKLE_INTERVAL = 0.05


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["body", "headers"])
async def test_trickling_answer_ends_at_the_deadline(
    server: HostileServer, transport: str, where: str
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if where == "body":
            writer.write(head(200, [JSON, ("Content-Length", "100000")]))
            await trickle(writer, b" " * 100_000, TRICKLE_INTERVAL)
        else:
            status = b"HTTP/1.1 200 OK\r\nX-Slow: "
            await trickle(writer, status + b"a" * 5000, TRICKLE_INTERVAL)

    server.handler = handler
    policy = aioica.RetryPolicy(max_attempts=2, backoff_base=0.0)
    started = time.monotonic()
    async with open_session(server, transport, timeout=TIGHT, retry=policy) as ica:
        with pytest.raises(aioica.APITimeoutError, match="deadline") as info:
            await ica.get_workflow_session_inputs("p", SID)
    elapsed = time.monotonic() - started
    # Two attempts of 1 s each, retried like any timeout; without the deadline: 2 x 30 s.
    assert info.value.attempts == 2
    assert len(server.requests) == 2
    assert elapsed < 10, f"{elapsed:.1f} s"


@pytest.mark.anyio
async def test_trickling_token_endpoint_ends_at_the_deadline(
    server: HostileServer, transport: str
) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.target.endswith("/api/tokens"):
            writer.write(head(200, [JSON, ("Content-Length", "100000")]))
            await trickle(writer, b" " * 100_000, TRICKLE_INTERVAL)
        else:
            await respond(writer, 200, page(1), [JSON])

    server.handler = handler
    started = time.monotonic()
    async with open_session(server, transport, timeout=TIGHT, auth=aioica.TokenAuth(KEY)) as ica:
        with pytest.raises(aioica.APITimeoutError, match="deadline"):
            await ica.get_workflow_session_inputs("p", SID)
    assert time.monotonic() - started < 10
    assert [r.target for r in server.requests] == ["/ica/rest/api/tokens"]


@pytest.mark.anyio
async def test_slow_but_steady_answer_within_the_deadline_succeeds(
    server: HostileServer, transport: str
) -> None:
    body = page(20)

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [JSON, ("Content-Length", str(len(body)))]))
        third = len(body) // 3
        for piece in (body[:third], body[third : 2 * third], body[2 * third :]):
            await send(writer, piece)
            await asyncio.sleep(0.1)

    server.handler = handler
    async with open_session(server, transport, timeout=httpx.Timeout(1.0)) as ica:
        result = await ica.get_workflow_session_inputs("p", SID)
    assert len(result.items) == 20


@pytest.mark.anyio
async def test_cancellation_from_outside_stays_a_cancellation(
    server: HostileServer, transport: str
) -> None:
    # A caller's own timeout ends the request as a cancellation (not as the deadline's
    # APITimeoutError), and the session goes on working.
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) == 1:
            writer.write(head(200, [JSON, ("Content-Length", "100000")]))
            await trickle(writer, b" " * 100_000, TRICKLE_INTERVAL)
        else:
            await respond(writer, 200, page(2), [JSON])

    server.handler = handler
    async with open_session(server, transport) as ica:
        with anyio.move_on_after(0.3) as scope:
            await ica.get_workflow_session_inputs("p", SID)
        assert scope.cancelled_caught
        result = await ica.get_workflow_session_inputs("p", SID)
    assert len(result.items) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("mechanism", ["native", "anyio"])
async def test_deadline_mechanisms(
    server: HostileServer,
    transport: str,
    stack: tuple[str, str],
    mechanism: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # asyncio 3.11+ bounds an attempt with asyncio.Timeout set by one shared timer (_deadlines),
    # trio (and asyncio before 3.11) with anyio's CancelScope; both give the same error at the
    # same deadline.
    from aioica._deadlines import DeadlineWatch

    if mechanism == "anyio":
        monkeypatch.setattr(DeadlineWatch, "for_library", staticmethod(lambda library: None))

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, [JSON, ("Content-Length", "100000")]))
        await trickle(writer, b" " * 100_000, TRICKLE_INTERVAL)

    server.handler = handler
    async with open_session(server, transport, timeout=TIGHT) as ica:
        watch = ica._requester.deadlines  # type: ignore[union-attr]
        assert (watch is not None) == (stack[0] == "asyncio" and mechanism == "native")
        started = time.monotonic()
        with pytest.raises(aioica.APITimeoutError, match="within 1 s, the whole-request deadline"):
            await ica.get_workflow_session_inputs("p", SID)
    assert 0.9 < time.monotonic() - started < 5


class _TornDown(httpx.AsyncBaseTransport):
    """Waits for an answer that never comes and turns its cancellation into a transport error
    (as a connection torn down under a request may surface)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            await anyio.sleep(30)
        except anyio.get_cancelled_exc_class():
            raise httpx.ReadError("connection torn down", request=request) from None
        raise AssertionError("not reached")


@pytest.mark.anyio
@pytest.mark.parametrize("mechanism", ["native", "anyio"])
async def test_error_raised_by_the_deadlines_cancellation_is_the_deadline(
    stack: tuple[str, str], mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aioica._deadlines import DeadlineWatch

    if mechanism == "anyio":
        monkeypatch.setattr(DeadlineWatch, "for_library", staticmethod(lambda library: None))
    session = aioica.Session(
        base_url="http://127.0.0.1:9/ica/rest",
        auth=aioica.ApiKeyAuth(KEY),
        transport=_TornDown(),
        retry=aioica.RetryPolicy.none(),
        timeout=TIGHT,
    )
    async with session as ica:
        with pytest.raises(aioica.APITimeoutError, match="whole-request deadline"):
            await ica.get_workflow_session_inputs("p", SID)


def test_deadline_is_the_sum_of_the_timeouts() -> None:
    from aioica._http import request_deadline

    assert request_deadline(httpx.Timeout(10.0, read=60.0, write=30.0, pool=60.0).as_dict()) == 160
    assert request_deadline(httpx.Timeout(1.0, pool=None).as_dict()) == 3.0
    assert request_deadline(httpx.Timeout(1.0, read=None).as_dict()) is None
    assert request_deadline(httpx.Timeout(None).as_dict()) is None


# -- redirects ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_cross_origin_hop_sends_the_new_origins_host(transport: str) -> None:
    with HostileServer() as first, HostileServer() as second:

        async def hop(request: Request, writer: asyncio.StreamWriter) -> None:
            await respond(writer, 302, b"", [("Location", second.url + "/elsewhere")])

        async def land(request: Request, writer: asyncio.StreamWriter) -> None:
            await respond(writer, 200, page(1), [JSON])

        first.handler, second.handler = hop, land
        async with open_session(first, transport, follow_redirects=True) as ica:
            result = await ica.get_workflow_session_inputs("p", SID)
    assert len(result.items) == 1
    (landed,) = second.requests
    assert landed.headers["host"] == f"127.0.0.1:{second.port}"
    assert "x-api-key" not in landed.headers
    assert first.requests[0].headers["host"] == f"127.0.0.1:{first.port}"


@pytest.mark.anyio
async def test_same_origin_hop_keeps_host_and_key(server: HostileServer, transport: str) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.target.endswith("/inputs"):
            await respond(writer, 307, b"", [("Location", "/ica/rest/api/elsewhere")])
        else:
            await respond(writer, 200, page(1), [JSON])

    server.handler = handler
    async with open_session(server, transport, follow_redirects=True) as ica:
        await ica.get_workflow_session_inputs("p", SID)
    first, hop = server.requests
    assert hop.target == "/ica/rest/api/elsewhere"
    assert hop.headers["host"] == first.headers["host"] == f"127.0.0.1:{server.port}"
    assert hop.headers["x-api-key"] == KEY


@pytest.mark.anyio
async def test_location_with_userinfo_is_refused(transport: str) -> None:
    with HostileServer() as first, HostileServer() as second:

        async def hop(request: Request, writer: asyncio.StreamWriter) -> None:
            target = second.url.replace("http://", "http://user:pa55word@") + "/x"
            await respond(writer, 302, b"", [("Location", target)])

        first.handler = hop
        async with open_session(first, transport, follow_redirects=True) as ica:
            with pytest.raises(aioica.InvalidResponseError, match="credentials"):
                await ica.get_workflow_session_inputs("p", SID)
    assert second.requests == []


# -- error text ---------------------------------------------------------------------------------

ESCAPES = "\x1b[2J\x1b[31mred\x07\r\nFAKE LOG LINE\u202egnp.exe\x9b"


def _hostile_problem() -> bytes:
    return json.dumps(
        {
            "title": "ICA_API_004 " + ESCAPES,
            "detail": ESCAPES + "A" * (4 * MIB),
            "parameters": {ESCAPES: "B" * MIB},
            "status": 500,
        }
    ).encode()


def assert_inert(text: str) -> None:
    for bad in ("\x1b", "\x07", "\r", "\n", "\u202e", "\x9b"):
        assert bad not in text


@pytest.mark.anyio
async def test_error_text_is_bounded_and_inert(server: HostileServer, transport: str) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        headers = [("Content-Type", "application/problem+json"), ("X-Request-Id", "r" * 5000)]
        await respond(writer, 500, _hostile_problem(), headers)

    server.handler = handler
    async with open_session(server, transport) as ica:
        with pytest.raises(aioica.ServerError) as info:
            await ica.get_workflow_session_inputs("p", SID)
    message = str(info.value)
    assert len(message) <= 4500
    assert_inert(message)
    assert "ICA_API_004" in message and "\\x1b[31mred" in message  # escaped, still readable
    assert info.value.problem is not None  # the data itself is left as sent
    assert info.value.problem.detail is not None and len(info.value.problem.detail) > 4 * MIB


def test_cli_error_line_is_bounded_and_inert(capsys: pytest.CaptureFixture[str]) -> None:
    with HostileServer() as server:

        async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
            await respond(
                writer, 400, _hostile_problem(), [("Content-Type", "application/problem+json")]
            )

        server.handler = handler
        argv = ["sessions", "inputs", "p", SID, "--base-url", server.url + "/ica/rest"]
        for debug in ([], ["--debug"]):
            code = aioica.cli.main([*argv, "--api-key", KEY, *debug])
            err = capsys.readouterr().err
            assert code != 0
            error_line = [line for line in err.splitlines() if line.startswith("aioica: error:")]
            assert len(error_line) == 1 and len(error_line[0]) < 5000
            assert_inert(err.replace("\n", ""))
            assert KEY not in err
