"""A finished request leaves no reference cycle behind.

Garbage in cycles waits for the cyclic collector, is promoted into older generations while it
waits and so brings on full collections, which stop the event loop for tens of milliseconds on
a heap the size of an importing application's. The exchanges of a long export must be freed by
reference counting alone.
"""

from __future__ import annotations

import collections
import gc
from collections.abc import Iterator

import pytest

import aioica
from aioica.testing import Dataset, FakeICA, serve_in_thread

P = "demo-project"
# Garbage of these libraries' types can only come from the client side. The fake runs in a
# thread of this process on Starlette and uvicorn (and anyio), with garbage of its own, so
# anyio's types and aioica.testing's are not counted.
CLIENT_MODULES = ("aioica", "httpx", "httpcore", "aiohttp")


@pytest.fixture(scope="module")
def fake_url() -> Iterator[tuple[FakeICA, str]]:
    fake = FakeICA(Dataset(seed=3, projects=[P], sessions=60, analyses=2))
    with serve_in_thread(fake) as url:
        yield fake, url


def client_garbage(garbage: list[object]) -> collections.Counter[str]:
    found: collections.Counter[str] = collections.Counter()
    for obj in garbage:
        module = type(obj).__module__ or ""
        if module.split(".")[0] in CLIENT_MODULES and not module.startswith("aioica.testing"):
            found[f"{module}.{type(obj).__qualname__}"] += 1
    return found


@pytest.mark.anyio
@pytest.mark.parametrize("raw", [False, True], ids=["models", "raw"])
async def test_an_export_leaves_no_cyclic_garbage(
    fake_url: tuple[FakeICA, str], anyio_backend: str, raw: bool
) -> None:
    fake, url = fake_url
    transport = "httpx" if anyio_backend == "trio" else "auto"
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(fake.api_key), base_url=url, transport=transport
    ) as ica:
        # Warm-up: connections, lazily built decoders and imports are not per request.
        async for _ in ica.export_workflow_sessions(P, page_size=10, raw=raw):
            pass
        gc.collect()
        was_enabled = gc.isenabled()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            sent = ica.requests_sent
            sessions = 0
            async for _ in ica.export_workflow_sessions(P, page_size=10, raw=raw):
                sessions += 1
            sent = ica.requests_sent - sent
            gc.collect()
            found = client_garbage(gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            if was_enabled:
                gc.enable()
    assert sessions == 60 and sent >= 180
    assert not found, f"{sent} requests left cyclic garbage: {found.most_common(8)}"
