"""Client CPU per request at bulk concurrency: aioica's transports vs httpx defaults vs libica.

The fake ICA (aioica.testing) runs in a separate process (its CPU does not count) on loopback
TCP and answers every request after a fixed latency (20 ms). Each client sends N
``POST …/analyses:search`` requests, 32 in flight, parses the JSON and builds no models; CPU
is ``time.process_time()`` over the request span only (after a warm-up that opens the
connections).

    .venv/bin/python benchmarks/http_overhead.py            # N=1000, 32 in flight, 20 ms
    .venv/bin/python benchmarks/http_overhead.py -n 3000 --concurrency 64

Needs the ``bench`` extra (aiohttp, libica); trio rows need trio. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._server import API_KEY, fake_server

PROJECT = "demo-project"
SESSION = ""  # chosen once the fake runs (start_server)
PATH = ""
KEY = API_KEY
ACCEPT = "application/vnd.illumina.v3+json"
BOUND_ASYNCIO_MS = 0.5
BOUND_TRIO_MS = 1.0


# -- the server (the fake ICA, in its own process) --------------------------------------------


@contextlib.contextmanager
def start_server(latency: float, items: int) -> Iterator[str]:
    """The fake ICA in its own process (its CPU is not the client's); yields its base URL.

    Picks a workflow session with about ``items`` orchestrated analyses, so every
    ``analyses:search`` answer carries a realistic page of that size.
    """
    global SESSION, PATH
    with fake_server(sessions=200, analyses=items, latency_ms=latency * 1000) as base:
        headers = {"X-API-Key": KEY, "Accept": ACCEPT}
        page = httpx.post(
            f"{base}/api/projects/{PROJECT}/workflowSessions:search?pageSize=200",
            headers=headers,
            json={},
            timeout=30,
        ).json()
        best, size = None, -1
        for ws in page["items"]:
            found = httpx.post(
                f"{base}/api/projects/{PROJECT}/workflowSessions/{ws['id']}/analyses:search",
                headers=headers,
                json={},
                timeout=30,
            ).json()["items"]
            if abs(len(found) - items) < abs(size - items):
                best, size = ws["id"], len(found)
        assert best is not None
        SESSION = best
        PATH = f"/ica/rest/api/projects/{PROJECT}/workflowSessions/{SESSION}/analyses:search"
        print(f"fake ICA at {base}; session {SESSION} has {size} analyses", file=sys.stderr)
        yield base


# -- drivers --------------------------------------------------------------------------------------


async def _drive(
    one: Callable[[], Awaitable[None]], n: int, concurrency: int
) -> tuple[float, float]:
    """Warm up, then run n calls with `concurrency` in flight; (CPU s, wall s) of the span."""

    async def run(count: int) -> None:
        left = [count]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                await one()

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)

    await run(concurrency * 2)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await run(n)
    return time.process_time() - cpu0, time.perf_counter() - wall0


def _query() -> bytes:
    return json.dumps({"status": ["SUCCEEDED"]}).encode()


async def bench_session(base: str, transport: str, n: int, conc: int) -> tuple[float, float, str]:
    """aioica.Session, one page per call, ``raw=True`` (JSON parsed, no models)."""
    import aioica

    async with aioica.Session(
        aioica.ApiKeyAuth(KEY),
        base_url=base,
        max_concurrency=conc,
        transport=transport,
        allow_insecure_http=True,
    ) as ica:

        async def one() -> None:
            page = await ica.search_orchestrated_analyses(
                PROJECT,
                SESSION,
                page_size=1000,
                analysis_query_parameters={"status": ["SUCCEEDED"]},
                raw=True,
            )
            assert page is not None

        cpu, wall = await _drive(one, n, conc)
        return cpu, wall, str(ica.transport_name)


async def bench_transport(base: str, kind: str, n: int, conc: int) -> tuple[float, float, str]:
    """aioica's transport under a bare httpx.AsyncClient, requests built as the session does."""
    from aioica._compat import tune_client
    from aioica._transports import build_transport

    timeout = httpx.Timeout(30.0)
    transport, name = build_transport(kind=kind, max_connections=conc, timeout=timeout)  # type: ignore[arg-type]
    headers = {"Accept": ACCEPT, "X-API-Key": KEY, "Content-Type": ACCEPT}
    url = f"{base}{PATH.removeprefix('/ica/rest')}?pageSize=1000"
    body = _query()
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        tune_client(client)

        async def one() -> None:
            request = client.build_request("POST", url, headers=headers, content=body)
            response = await client.send(request, stream=True)
            try:
                await response.aread()
            finally:
                await response.aclose()
            response.raise_for_status()
            json.loads(response.content)

        cpu, wall = await _drive(one, n, conc)
    return cpu, wall, name


async def bench_httpx_default(
    base: str, n: int, conc: int, one_pool: bool = False
) -> tuple[float, float, str]:
    """Plain ``httpx.AsyncClient()``: defaults (up to 100 connections), or one pool of `conc`."""
    headers = {"Accept": ACCEPT, "X-API-Key": KEY, "Content-Type": ACCEPT}
    url = f"{base}{PATH.removeprefix('/ica/rest')}"
    body = _query()
    kwargs: dict[str, Any] = {"limits": httpx.Limits(max_connections=conc)} if one_pool else {}
    async with httpx.AsyncClient(timeout=30.0, **kwargs) as client:

        async def one() -> None:
            response = await client.post(
                url, params={"pageSize": "1000"}, headers=headers, content=body
            )
            response.raise_for_status()
            response.json()

        cpu, wall = await _drive(one, n, conc)
    return cpu, wall, f"1 pool x {conc}" if one_pool else "defaults"


def bench_libica(base: str, n: int, conc: int, models: bool) -> tuple[float, float, str]:
    """libica's ProjectWorkflowSessionApi from a thread pool (one urllib3 pool of `conc`)."""
    from libica.openapi.v3 import ApiClient, Configuration, ProjectWorkflowSessionApi
    from libica.openapi.v3.models import AnalysisQueryParameters

    config = Configuration(host=base, api_key={"ApiKeyAuth": KEY})
    config.connection_pool_maxsize = conc
    api = ProjectWorkflowSessionApi(ApiClient(config))
    query = AnalysisQueryParameters(status=["SUCCEEDED"])
    session_id = uuid.UUID(SESSION)

    def one(_: int) -> None:
        if models:
            api.search_orchestrated_analyses(
                PROJECT, session_id, page_size="1000", analysis_query_parameters=query
            )
        else:
            response = api.search_orchestrated_analyses_without_preload_content(
                PROJECT, session_id, page_size="1000", analysis_query_parameters=query
            )
            json.loads(response.data)

    with ThreadPoolExecutor(conc) as pool:
        list(pool.map(one, range(conc * 2)))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        list(pool.map(one, range(n)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu, wall, "libica+models" if models else "libica"


# -- the report -----------------------------------------------------------------------------------


def _row(
    label: str, backend: str, n: int, cpu: float, wall: float, bound: float | None
) -> dict[str, Any]:
    return {
        "client": label,
        "backend": backend,
        "cpu_ms": cpu * 1000 / n,
        "wall_s": wall,
        "bound": bound,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="requests per client (1000)")
    parser.add_argument("--concurrency", type=int, default=32, help="in flight (32)")
    parser.add_argument("--latency", type=float, default=0.020, help="server latency s (0.020)")
    parser.add_argument("--items", type=int, default=10, help="analyses per page (10)")
    parser.add_argument(
        "--skip", default="", help="comma list: session,transport,httpx,libica,trio"
    )
    args = parser.parse_args(argv)
    n, conc, skip = args.n, args.concurrency, set(filter(None, args.skip.split(",")))

    rows: list[dict[str, Any]] = []

    def add(
        label: str, backend: str, result: tuple[float, float, str], bound: float | None
    ) -> None:
        cpu, wall, name = result
        rows.append(_row(f"{label} [{name}]", backend, n, cpu, wall, bound))
        print(
            f"  {rows[-1]['client']:<40} {backend:<8} {rows[-1]['cpu_ms']:.3f} ms", file=sys.stderr
        )

    with start_server(args.latency, args.items) as base:
        for kind in ("auto", "httpx"):
            if "session" not in skip:
                add(
                    "aioica.Session",
                    "asyncio",
                    anyio.run(bench_session, base, kind, n, conc),
                    BOUND_ASYNCIO_MS,
                )
            if "transport" not in skip:
                add(
                    "transport+httpx.AsyncClient",
                    "asyncio",
                    anyio.run(bench_transport, base, kind, n, conc),
                    BOUND_ASYNCIO_MS,
                )
        if "httpx" not in skip:
            for one_pool in (False, True):
                result = anyio.run(bench_httpx_default, base, n, conc, one_pool)
                add("plain httpx.AsyncClient", "asyncio", result, None)
        if "trio" not in skip:
            if "session" not in skip:
                add(
                    "aioica.Session",
                    "trio",
                    anyio.run(bench_session, base, "auto", n, conc, backend="trio"),
                    BOUND_TRIO_MS,
                )
            if "transport" not in skip:
                add(
                    "transport+httpx.AsyncClient",
                    "trio",
                    anyio.run(bench_transport, base, "auto", n, conc, backend="trio"),
                    BOUND_TRIO_MS,
                )
            if "httpx" not in skip:
                for one_pool in (False, True):
                    result = anyio.run(bench_httpx_default, base, n, conc, one_pool, backend="trio")
                    add("plain httpx.AsyncClient", "trio", result, None)
        if "libica" not in skip:
            add(
                f"libica {conc} threads", "threads", bench_libica(base, n, conc, models=False), None
            )

    libica = next((r["cpu_ms"] for r in rows if r["client"].startswith("libica")), None)
    print(
        f"\n{n} POST analyses:search, {conc} in flight, {args.latency * 1000:.0f} ms latency, "
        f"{args.items} items/page, loopback; client CPU per request (process_time)\n"
    )
    print(f"| {'client':<40} | {'loop':<7} | CPU/req ms | wall s | vs bound | vs libica |")
    print(f"|{'-' * 42}|{'-' * 9}|-----------:|-------:|---------:|----------:|")
    for r in rows:
        bound = f"{r['cpu_ms'] / r['bound']:.2f}x" if r["bound"] else "-"
        vs = f"{r['cpu_ms'] / libica:.2f}x" if libica else "-"
        print(
            f"| {r['client']:<40} | {r['backend']:<7} | {r['cpu_ms']:>10.3f} | {r['wall_s']:>6.2f} "
            f"| {bound:>8} | {vs:>9} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
