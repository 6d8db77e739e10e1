"""In-process stand-ins for ICA built on ``httpx.MockTransport``: a paged listing server, canned
answers, sessions wired to them, and chunked bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from hypothesis import HealthCheck, settings

import aioica

from .payloads import session_v4

KEY = "sekret-api-key-0123456789"
Respond = Callable[[httpx.Request], httpx.Response]

BASE = "https://ica.example.org/ica/rest"


def make_ids(n: int) -> list[str]:
    return [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)]


class PagedServer:
    """A cursor/offset server for one listing, with hooks to observe requests."""

    def __init__(self, n: int, *, last_token: Any = None, dup_offsets: bool = False) -> None:
        self.ids = make_ids(n)
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.last_token = last_token
        self.dup_offsets = dup_offsets
        self.requested: dict[str, anyio.Event] = {}
        self.delay = 0.0
        self.loop_token: str | None = None
        self.cancelled = 0

    def event(self, token: str) -> anyio.Event:
        return self.requested.setdefault(token, anyio.Event())

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            params = request.url.params
            size = int(params.get("pageSize", "100"))
            token = params.get("pageToken")
            self.event(token or "<first>").set()
            if self.delay:
                await anyio.sleep(self.delay)
            body: dict[str, Any]
            if "pageOffset" in params or "sort" in params:
                start = int(params.get("pageOffset", "0"))
                if self.dup_offsets and start > 0:
                    start -= 1  # offset paging may repeat a row across pages
                chunk = self.ids[start : start + size]
                body = {
                    "items": [session_v4(i) for i in chunk],
                    "nextPageToken": "",
                    "totalItemCount": len(self.ids),
                }
            else:
                start = int(token[2:]) if token else 0
                chunk = self.ids[start : start + size]
                end = start + size
                nxt: Any = f"c/{end}" if end < len(self.ids) else self.last_token
                if self.loop_token is not None and start > 0:
                    nxt = self.loop_token
                body = {
                    "items": [session_v4(i) for i in chunk],
                    "remainingRecords": max(0, len(self.ids) - end),
                }
                if nxt != "<absent>":
                    body["nextPageToken"] = nxt
            return httpx.Response(200, content=json.dumps(body).encode())
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


def session_for(server: PagedServer, **kwargs: Any) -> aioica.Session:
    client = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    kwargs.setdefault("retry", aioica.RetryPolicy.none())
    return aioica.Session(auth=aioica.ApiKeyAuth("k"), base_url=BASE, http_client=client, **kwargs)


FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


EMPTY_PAGE: dict[str, Any] = {"items": [], "nextPageToken": None}


def ok(data: Any = EMPTY_PAGE, status: int = 200) -> httpx.Response:
    body = data
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/vnd.illumina.v3+json"},
    )


@asynccontextmanager
async def open_session(
    respond: Respond = lambda _: ok(), **kwargs: Any
) -> AsyncIterator[tuple[aioica.Session, list[httpx.Request]]]:
    """A session whose client answers with ``respond`` and records every request."""
    sent: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        await request.aread()
        return respond(request)

    kwargs.setdefault("auth", aioica.ApiKeyAuth(KEY))
    kwargs.setdefault("retry", aioica.RetryPolicy.none())
    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client,
        aioica.Session(base_url=BASE, http_client=client, **kwargs) as ica,
    ):
        yield ica, sent


class Chunks(httpx.AsyncByteStream):
    """A response body served chunk by chunk, counting what was actually pulled."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self.served = 0
        self.closed = False

    # An iterator object rather than an async generator: a half-read body must not leave an
    # unfinished generator behind for the event loop to finalise.
    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        if self.closed:  # like a real connection: nothing more after close
            raise StopAsyncIteration
        try:
            chunk = next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None
        self.served += 1
        return chunk

    async def aclose(self) -> None:
        self.closed = True
