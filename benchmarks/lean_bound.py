"""How much of the export's cost sits between ``Session._call`` and aiohttp (a measurement).

    python benchmarks/lean_bound.py [--sessions 300] [--rows models,lean-models,raw,lean-raw]

The ``lean-`` rows replace ``Session._call`` for the export's happy path with a version that
takes the session's limiter slot and the same shared-timer deadline, counts the request, and
calls the session's aiohttp ``ClientSession`` directly (the session's headers as a prepared
dict, a ``yarl.URL`` from the path text, the same client timeout), then inflates the body,
``json.loads`` it and decodes the page as before. It builds no httpx URL, request or response
and skips the retry loop, the 429 gate, status mapping and logging checks: an upper bound of
what a request path without those objects could save, not a usable client (it raises on any
status but 200). Counted as ``instructions.py`` counts: callgrind, three exports less one.
Needs valgrind and the aiohttp transport (``aioica[fast]``). Since the tenth round
(benchmarks/README.md) the session's own path (``aioica._direct``) builds no httpx objects for
a plain success either, so the ``models`` row is within a few per cent of ``lean-models``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROJECT = "demo-project"


async def _lean_call(
    self: Any,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    body: dict[str, Any] | None,
    model: type[Any] | None,
    *,
    paged: bool,
    retry: Any,
) -> tuple[Any, None]:
    from urllib.parse import quote, urlencode

    import yarl

    from aioica._decode import decode_page

    requester = self._open()
    prepared = self.__dict__.setdefault("_lean_prepared", {})
    if not prepared:
        transport = requester.client._transport
        headers = {**dict(requester.headers), "X-API-Key": self.auth._api_key}
        prepared.update(
            get=headers,
            post={**headers, **dict(requester._post_headers)},
            transport=transport,
            timeout=transport.client_timeout(requester.timeout),
            base=self.base_url.rstrip("/"),
        )
    transport = prepared["transport"]
    client = transport._session or transport._open()
    text = prepared["base"] + path + ("?" + urlencode(query, quote_via=quote) if query else "")
    content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    headers = (
        prepared["get"]
        if content is None
        else {**prepared["post"], "Content-Length": str(len(content))}
    )
    async with requester.limiter:
        watch = requester.deadlines
        expiry = watch.expiry()
        async with expiry:
            watch.add(expiry, requester.default_deadline)
            try:
                requester.requests_sent += 1
                response = await client.request(
                    method,
                    yarl.URL(text, encoded=True),
                    headers=headers,
                    data=content,
                    allow_redirects=False,
                    timeout=prepared["timeout"],
                )
                raw = await response.read()
            finally:
                watch.discard(expiry)
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status}")
    if response.headers.get("Content-Encoding") == "gzip":
        raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, requester.max_response_bytes)
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise RuntimeError(f"{method} {path}: not a JSON object")
    return (data if model is None else await decode_page(data, model)), None


async def _exports(url: str, who: str, times: int) -> None:
    import aioica
    from aioica import _session
    from benchmarks._server import API_KEY

    if who.startswith("lean-"):
        _session.Session._call = _lean_call  # type: ignore[method-assign]
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(API_KEY), base_url=url, max_concurrency=32, transport="aiohttp"
    ) as ica:
        for _ in range(times):
            async with ica.export_workflow_sessions(
                PROJECT, page_size=100, raw=who.endswith("raw")
            ) as export:
                async for _record in export:
                    pass


def _child(who: str, times: int, sessions: int) -> None:
    from benchmarks._server import fake_server

    with fake_server(sessions=sessions, analyses=3, latency_ms=20) as url:
        asyncio.run(_exports(url, who, times))


def main() -> None:
    from benchmarks.instructions import run_rows

    run_rows(__doc__ or "", "models,lean-models,raw,lean-raw", _child, __file__)


if __name__ == "__main__":
    main()
