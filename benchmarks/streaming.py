"""Streaming and fan-out benchmarks (W1a, W1b, W2, W3, decode) against the fake ICA.

    python benchmarks/streaming.py                 # everything (several minutes)
    python benchmarks/streaming.py --only w1a,w2   # a subset
    python benchmarks/streaming.py --quick         # smaller sizes, for a smoke run

Every workload runs in a fresh child process (so CPU and peak RSS are its own) against the fake
ICA served over loopback TCP by another process (so the server's CPU is not counted). CPU is
``time.process_time()`` over the measured span only, not interpreter start or imports. libica
(``pip install libica``) is measured in the same run when importable.

W1a  export 2,000 sessions x ~3 analyses, page size 100, 20 ms latency: aioica at
     max_concurrency 32 (models, raw, and the trio/httpx-pools path) against the floor (the
     same requests hand-written on aiohttp: ``json.loads``, no models, an
     ``asyncio.Semaphore(32)``), libica sequential and libica with 32 threads. Every aioica and
     floor row also runs a 1 ms heartbeat task in the same event loop and reports its lag.
W1b  the same aioica export at 100 ms latency.
W2   one cursor stream of 50 pages, a consumer spending 20 ms per page: prefetch 1 vs 0.
W3   stream 200,000 items: peak RSS growth of the client.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aioica
from benchmarks._server import API_KEY, fake_server

PROJECT = "demo-project"
ACCEPT = "application/vnd.illumina.v3+json"
HEARTBEAT_S = 0.001


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- event-loop responsiveness -----------------------------------------------------------------


class GcProbe:
    """Counts the cyclic collector's passes per generation and how long they stop the thread.

    Installed as a ``gc.callbacks`` hook for the measured span only. A full pass (generation 2)
    scans every tracked object of the process, the tens of thousands that importing the
    libraries left included, so its length depends on the heap, not on the workload.
    """

    def __init__(self) -> None:
        self.passes = [0, 0, 0]
        self.pause_s = [0.0, 0.0, 0.0]
        self.longest_full_s = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
            return
        gen = info["generation"]
        took = now - self._started
        self.passes[gen] += 1
        self.pause_s[gen] += took
        if gen == 2:
            self.longest_full_s = max(self.longest_full_s, took)

    def __enter__(self) -> GcProbe:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> dict[str, float]:
        return {
            "gc_ms": sum(self.pause_s) * 1000,
            "gc_young": self.passes[0] + self.passes[1],
            "gc_full": self.passes[2],
            "gc_full_max_ms": self.longest_full_s * 1000,
        }


class Heartbeat:
    """A task that sleeps 1 ms at a time in the measured loop and records how late it wakes.

    The lag is what any other task of that loop (a web handler, say) would wait on top of its
    own work while the workload runs. With a :class:`GcProbe`, the beats during which a full
    collection ran are told apart: ``hb_max_nofull_ms`` is the longest lag of the others.
    """

    def __init__(self, sleep: Any = None, probe: GcProbe | None = None) -> None:
        self._sleep = sleep or anyio.sleep
        self._probe = probe
        self.lags: list[float] = []
        self.lags_nofull: list[float] = []
        self.running = True

    async def run(self) -> None:
        sleep, lags, clock = self._sleep, self.lags, time.perf_counter
        probe = self._probe
        while self.running:
            full = probe.passes[2] if probe is not None else 0
            t0 = clock()
            await sleep(HEARTBEAT_S)
            lag = clock() - t0 - HEARTBEAT_S
            lags.append(lag)
            if probe is not None and probe.passes[2] == full:
                self.lags_nofull.append(lag)

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags) or [0.0]
        n = len(lags)
        out = {
            "hb_p50_ms": lags[n // 2] * 1000,
            "hb_p99_ms": lags[min(n - 1, int(n * 0.99))] * 1000,
            "hb_max_ms": lags[-1] * 1000,
            "hb_samples": n,
        }
        if self._probe is not None:
            out["hb_max_nofull_ms"] = max(self.lags_nofull, default=0.0) * 1000
            out.update(self._probe.summary())
        return out


# -- aioica ------------------------------------------------------------------------------------


async def aioica_export(
    url: str,
    concurrency: int,
    page_size: int,
    raw: bool = False,
    transport: str = "auto",
    profile: str | None = None,
    concurrent_parts: bool = False,
    gc_freeze: bool = False,
) -> dict[str, Any]:
    if concurrent_parts:
        from aioica._export import _ExportJob

        _ExportJob._sequential_parts = lambda self: False  # type: ignore[method-assign]
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(API_KEY),
        base_url=url,
        max_concurrency=concurrency,
        transport=transport,
    ) as ica:
        # Warm-up outside the measured span: imports, first connections, generated decoders.
        await ica.search_workflow_sessions(PROJECT, page_size=1)
        async with ica.export_workflow_sessions(PROJECT, page_size=10, raw=raw) as warm:
            n = 0
            async for _ in warm:
                n += 1
                if n >= 2 * concurrency:
                    break
        await anyio.sleep(0.2)  # let the cancelled warm-up settle before counting
        freeze_gc(gc_freeze)
        sent0 = ica.requests_sent
        probe = GcProbe()
        beat = Heartbeat(probe=probe)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        sessions = analyses = 0
        with probe:
            async with anyio.create_task_group() as tg:
                tg.start_soon(beat.run)
                export = ica.export_workflow_sessions(PROJECT, page_size=page_size, raw=raw)
                async with export:
                    async for record in export:
                        sessions += 1
                        analyses += len(record.analyses or ())
                wall = time.perf_counter() - wall0
                cpu = time.process_time() - cpu0
                beat.running = False
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        backend = current_backend()
        mode = "raw" if raw else "models"
        if concurrent_parts:
            mode += ", concurrent parts"
        if gc_freeze:
            mode += ", gc.freeze"
        return {
            "client": f"aioica export, {mode} ({ica.transport_name}, {backend})",
            "sessions": sessions,
            "analyses": analyses,
            "requests": ica.requests_sent - sent0,
            "wall": wall,
            "cpu": cpu,
            "peak_rss_mb": rss_mb(),
            "transport": ica.transport_name,
            **beat.summary(),
        }


def current_backend() -> str:
    import sniffio

    return str(sniffio.current_async_library())


# -- the floor: the same requests straight on aiohttp ------------------------------------------


def freeze_gc(enabled: bool) -> None:
    """What a long-running application does once started: move every object alive now out of
    the cyclic collector's way, so its full passes scan only what the workload allocates."""
    if enabled:
        gc.collect()
        gc.freeze()


def floor_call(http: Any, sem: Any, counter: list[int]) -> Callable[..., Awaitable[Any]]:
    """The floor's one request: ``sem`` held, ``json.loads`` of the body, ``counter[0] += 1``.

    ``http`` is an ``aiohttp.ClientSession``, ``sem`` an ``asyncio.Semaphore``.
    """
    headers = {"X-API-Key": API_KEY, "Accept": ACCEPT, "Accept-Encoding": "gzip"}
    post_headers = {**headers, "Content-Type": ACCEPT}

    async def call(method: str, target: str, params: dict[str, str] | None = None) -> Any:
        async with sem:
            counter[0] += 1
            body = b"{}" if method == "POST" else None
            hdrs = post_headers if method == "POST" else headers
            async with http.request(
                method, target, params=params, data=body, headers=hdrs
            ) as response:
                response.raise_for_status()
                return json.loads(await response.read())

    return call


def floor_session(
    call: Callable[..., Awaitable[Any]], base: str
) -> Callable[[str], Awaitable[int]]:
    """The floor's work for one session: inputs, configurations and the analyses' cursor chain,
    concurrently; the returned function gives the number of analyses."""
    import asyncio

    async def chain(target: str, size: int) -> list[Any]:
        found: list[Any] = []
        token = None
        while True:
            params = {"pageSize": str(size)}
            if token:
                params["pageToken"] = token
            page = await call("POST", target, params)
            found.extend(page.get("items") or ())
            token = page.get("nextPageToken")
            if not token:
                return found

    async def one(ws_id: str) -> int:
        _, _, found = await asyncio.gather(
            call("GET", f"{base}/{ws_id}/inputs"),
            call("GET", f"{base}/{ws_id}/configurations"),
            chain(f"{base}/{ws_id}/analyses:search", 1000),
        )
        return len(found)

    return one


async def floor_run(
    call: Callable[..., Awaitable[Any]], base: str, concurrency: int, page_size: int
) -> dict[str, int]:
    """One export by the floor (``floor_export``'s measured span): the sessions and analyses."""
    import asyncio

    one = floor_session(call, base)
    # As the export does: the listing runs ahead (its ids queue up, unbounded: they are
    # small), `concurrency` sessions are in progress.
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    done = {"sessions": 0, "analyses": 0}

    async def lister() -> None:
        token = None
        while True:
            params = {"pageSize": str(page_size)}
            if token:
                params["pageToken"] = token
            page = await call("POST", f"{base}:search", params)
            for ws in page.get("items") or ():
                await queue.put(ws["id"])
            token = page.get("nextPageToken")
            if not token:
                break
        for _ in range(concurrency):
            await queue.put(None)

    async def worker() -> None:
        while (ws_id := await queue.get()) is not None:
            found = await one(ws_id)  # awaited first: `+= await` would lose updates
            done["analyses"] += found
            done["sessions"] += 1

    await asyncio.gather(lister(), *(worker() for _ in range(concurrency)))
    return done


async def floor_export(
    url: str, concurrency: int, page_size: int, gc_freeze: bool = False
) -> dict[str, Any]:
    """The W1a export hand-written on aiohttp: what the requests cost without any layer.

    Same requests as aioica's export (the listing's cursor chain; per session inputs,
    configurations and the analyses' cursor chain, concurrently), same server, the same
    number in flight (an ``asyncio.Semaphore``), ``json.loads`` and no models.
    """
    import asyncio

    import aiohttp

    base = f"{url}/api/projects/{PROJECT}/workflowSessions"
    counter = [0]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        call = floor_call(http, asyncio.Semaphore(concurrency), counter)

        one = floor_session(call, base)

        # Warm-up outside the measured span, as for aioica: the connections get opened.
        first = await call("POST", f"{base}:search", {"pageSize": str(2 * concurrency)})
        await asyncio.gather(*(one(ws["id"]) for ws in first["items"]))
        counter[0] = 0
        freeze_gc(gc_freeze)
        probe = GcProbe().__enter__()
        beat = Heartbeat(asyncio.sleep, probe=probe)
        beat_task = asyncio.create_task(beat.run())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = await floor_run(call, base, concurrency, page_size)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        beat.running = False
        await beat_task
        probe.__exit__()
    return {
        "client": "floor: aiohttp + json.loads, Semaphore(32)"
        + (", gc.freeze" if gc_freeze else ""),
        "sessions": done["sessions"],
        "analyses": done["analyses"],
        "requests": counter[0],
        "wall": wall,
        "cpu": cpu,
        "peak_rss_mb": rss_mb(),
        **beat.summary(),
    }


async def aioica_stream(
    url: str, *, pages: int, page_size: int, consumer_s: float, prefetch: int
) -> dict[str, Any]:
    async with aioica.Session(auth=aioica.ApiKeyAuth(API_KEY), base_url=url) as ica:
        await ica.search_workflow_sessions(PROJECT, page_size=1)
        sent0 = ica.requests_sent
        wall0 = time.perf_counter()
        n = 0
        async with ica.search_workflow_sessions(
            PROJECT, page_size=page_size, prefetch=prefetch
        ).pages() as it:
            async for _page in it:
                n += 1
                await anyio.sleep(consumer_s)  # the consumer's own work on the page
        wall = time.perf_counter() - wall0
        return {
            "pages": n,
            "requests": ica.requests_sent - sent0,
            "wall": wall,
            "prefetch": prefetch,
        }


async def aioica_many_items(url: str, total: int, decode_slice: int | None) -> dict[str, Any]:
    if decode_slice is not None:
        from aioica import _decode

        _decode.SLICE = decode_slice  # 10**9: big pages decoded in one go
    async with aioica.Session(auth=aioica.ApiKeyAuth(API_KEY), base_url=url) as ica:
        # Baseline after a first full page: decoders built, buffers allocated once.
        await ica.search_workflow_sessions(PROJECT, page_size=1000)
        base = rss_mb()
        beat = Heartbeat()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        n = 0
        async with anyio.create_task_group() as tg:
            tg.start_soon(beat.run)
            async for _ws in ica.search_workflow_sessions(PROJECT, page_size=1000):
                n += 1
            beat.running = False
        return {
            **beat.summary(),
            "items": n,
            "wall": time.perf_counter() - wall0,
            "cpu": time.process_time() - cpu0,
            "rss_base_mb": base,
            "rss_peak_mb": rss_mb(),
            "rss_growth_mb": rss_mb() - base,
            "expected": total,
        }


# -- libica ------------------------------------------------------------------------------------


def _libica_api(url: str, threads: int) -> Any:
    from libica.openapi.v3 import ApiClient, Configuration, ProjectWorkflowSessionApi

    config = Configuration(host=url, api_key={"ApiKeyAuth": API_KEY})
    config.connection_pool_maxsize = max(threads, 4)
    return ProjectWorkflowSessionApi(ApiClient(config))


def libica_export(url: str, page_size: int, threads: int) -> dict[str, Any]:
    api = _libica_api(url, threads)
    api.search_workflow_sessions(PROJECT, page_size="1")  # warm-up
    counter = {"requests": 0}
    lock = threading.Lock()

    def count(n: int = 1) -> None:
        with lock:
            counter["requests"] += n

    def details(ws_id: str) -> int:
        api.get_workflow_session_inputs(PROJECT, ws_id)
        api.get_workflow_session_configurations(PROJECT, ws_id)
        found, token = 0, None
        requests = 2
        while True:
            page = api.search_orchestrated_analyses(
                PROJECT, ws_id, page_size=str(page_size), page_token=token
            )
            requests += 1
            found += len(page.items)
            token = page.next_page_token
            if not token:
                break
        count(requests)
        return found

    cpu0, wall0 = time.process_time(), time.perf_counter()
    sessions = analyses = 0
    token = None
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    futures = []
    while True:
        page = api.search_workflow_sessions(PROJECT, page_size=str(page_size), page_token=token)
        count()
        for ws in page.items:
            sessions += 1
            if pool is None:
                analyses += details(str(ws.id))
            else:
                futures.append(pool.submit(details, str(ws.id)))
        token = page.next_page_token
        if not token:
            break
    if pool is not None:
        analyses += sum(f.result() for f in futures)
        pool.shutdown()
    return {
        "client": "libica sequential" if threads == 1 else f"libica {threads} threads",
        "sessions": sessions,
        "analyses": analyses,
        "requests": counter["requests"],
        "wall": time.perf_counter() - wall0,
        "cpu": time.process_time() - cpu0,
        "peak_rss_mb": rss_mb(),
    }


# -- driver ------------------------------------------------------------------------------------


def child(workload: str, url: str, opts: dict[str, Any]) -> dict[str, Any]:
    if workload == "aioica-export":
        return anyio.run(
            lambda: aioica_export(
                url,
                opts["concurrency"],
                opts["page_size"],
                raw=opts.get("raw", False),
                transport=opts.get("transport", "auto"),
                profile=opts.get("profile"),
                concurrent_parts=opts.get("concurrent_parts", False),
                gc_freeze=opts.get("gc_freeze", False),
            ),
            backend=opts.get("backend", "asyncio"),
        )
    if workload == "floor-export":
        import asyncio

        return asyncio.run(
            floor_export(
                url, opts["concurrency"], opts["page_size"], gc_freeze=opts.get("gc_freeze", False)
            )
        )
    if workload == "libica-export":
        return libica_export(url, opts["page_size"], opts["threads"])
    if workload == "stream":
        return anyio.run(
            lambda: aioica_stream(
                url,
                pages=opts["pages"],
                page_size=opts["page_size"],
                consumer_s=opts["consumer_s"],
                prefetch=opts["prefetch"],
            )
        )
    if workload == "many":
        return anyio.run(aioica_many_items, url, opts["total"], opts.get("decode_slice"))
    raise SystemExit(f"unknown workload {workload}")


def run_child(workload: str, url: str, **opts: Any) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", workload, "--url", url, "--opts", json.dumps(opts)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def have_libica() -> bool:
    try:
        import libica.openapi.v3  # noqa: F401
    except ImportError:
        return False
    return True


W1_VARIANTS: dict[str, dict[str, Any]] = {
    "models": {},
    "raw": {"raw": True},
    "trio": {"backend": "trio", "transport": "httpx"},
    # The export as before issue #15's follow-ups: a session's parts in a task group of their own.
    "concurrent": {"concurrent_parts": True},
}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def w1(
    latency_ms: float,
    sessions: int,
    with_libica: bool,
    seq_sessions: int | None,
    *,
    runs: int = 1,
    variants: tuple[str, ...] = ("models", "raw", "trio"),
    with_seq: bool = True,
    gc_freeze: bool = False,
) -> None:
    page_size, conc = 100, 32
    print(
        f"\nW1 @ {latency_ms:.0f} ms: export {sessions} sessions x ~3 analyses, page size "
        f"{page_size}, {conc} in flight, {runs} run(s)"
    )
    per_run: list[list[dict[str, Any]]] = []
    with fake_server(sessions=sessions, analyses=3, latency_ms=latency_ms) as url:
        for _ in range(runs):
            # Rows of one run are measured back to back against the same server: the ratios
            # within a run are what count on a shared machine.
            rows = [
                run_child(
                    "floor-export",
                    url,
                    concurrency=conc,
                    page_size=page_size,
                    gc_freeze=gc_freeze,
                )
            ]
            for name in variants:
                rows.append(
                    run_child(
                        "aioica-export",
                        url,
                        concurrency=conc,
                        page_size=page_size,
                        gc_freeze=gc_freeze,
                        **W1_VARIANTS[name],
                    )
                )
            if with_libica:
                rows.append(run_child("libica-export", url, page_size=page_size, threads=32))
            per_run.append(rows)
            _w1_table(rows, latency_ms, conc)
    if runs > 1:
        print(f"\nmedians over {runs} runs (ratios: median of the per-run ratios)")
        med = []
        for i, first in enumerate(per_run[0]):
            rows_i = [run[i] for run in per_run]
            floor = [run[0] for run in per_run]
            row = dict(first)
            for key in (
                "wall",
                "cpu",
                "requests",
                "peak_rss_mb",
                "hb_p50_ms",
                "hb_p99_ms",
                "hb_max_ms",
                "hb_max_nofull_ms",
                "gc_ms",
                "gc_full",
                "gc_full_max_ms",
            ):
                if key in first:
                    row[key] = _median([r[key] for r in rows_i])
            pairs = list(zip(rows_i, floor, strict=True))
            row["cpu_x"] = _median([r["cpu"] / f["cpu"] for r, f in pairs])
            row["wall_x"] = _median([r["wall"] / f["wall"] for r, f in pairs])
            med.append(row)
        _w1_table(med, latency_ms, conc)
    if with_libica and with_seq:
        # Sequential libica takes requests x latency; a smaller dataset, scaled, says the same.
        n = seq_sessions or sessions
        with fake_server(sessions=n, analyses=3, latency_ms=latency_ms) as url:
            seq = run_child("libica-export", url, page_size=page_size, threads=1)
        scale = sessions / n
        aio = per_run[-1][1] if len(per_run[-1]) > 1 else per_run[-1][0]
        print(
            f"libica sequential: {seq['wall'] * scale:.2f} s wall, {seq['cpu'] * scale:.2f} s CPU"
            + (f" (measured on {n} sessions, scaled x{scale:g})" if n != sessions else "")
            + f"; {aio['client']} is {seq['wall'] * scale / aio['wall']:.1f}x faster"
        )


def _w1_table(rows: list[dict[str, Any]], latency_ms: float, conc: int) -> None:
    floor = rows[0]
    bound = floor["requests"] * latency_ms / 1000 / conc
    print(
        f"bound = requests x latency / concurrency = {floor['requests']:.0f} x "
        f"{latency_ms:.0f} ms / {conc} = {bound:.2f} s"
    )
    head = (
        "client",
        "wall s",
        "CPU s",
        "CPU/req ms",
        "CPU vs floor",
        "wall vs floor",
        "hb p50/p99/max ms",
        "hb max w/o full GC ms",
        "GC ms (full passes, longest)",
        "RSS MB",
        "requests",
        "sessions",
        "analyses",
        "wall/bound",
    )
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for r in rows:
        cpu_x = r.get("cpu_x", r["cpu"] / floor["cpu"])
        wall_x = r.get("wall_x", r["wall"] / floor["wall"])
        hb = (
            f"{r['hb_p50_ms']:.1f} / {r['hb_p99_ms']:.1f} / {r['hb_max_ms']:.1f}"
            if "hb_p99_ms" in r
            else "-"
        )
        nofull = f"{r['hb_max_nofull_ms']:.1f}" if "hb_max_nofull_ms" in r else "-"
        gc_cell = (
            f"{r['gc_ms']:.0f} ({r['gc_full']:.0f}, {r['gc_full_max_ms']:.0f})"
            if "gc_ms" in r
            else "-"
        )
        print(
            f"| {r['client']} | {r['wall']:.2f} | {r['cpu']:.2f} | "
            f"{r['cpu'] / r['requests'] * 1000:.3f} | {cpu_x:.2f}x | {wall_x:.2f}x | {hb} | "
            f"{nofull} | {gc_cell} | {r['peak_rss_mb']:.0f} | {r['requests']:.0f} | "
            f"{r['sessions']:.0f} | {r['analyses']:.0f} | {r['wall'] / bound:.2f}x |"
        )


def w2(pages: int) -> None:
    page_size, latency_ms, consumer_ms = 100, 20, 20
    print(
        f"\nW2: one cursor stream of {pages} pages, {latency_ms} ms latency, consumer "
        f"{consumer_ms} ms per page"
    )
    with fake_server(sessions=pages * page_size, analyses=0, latency_ms=latency_ms) as url:
        # The network chain as it really is (latency plus serving and decoding each page): the
        # same stream with a consumer that does nothing and no look-ahead.
        chain_run = run_child(
            "stream", url, pages=pages, page_size=page_size, consumer_s=0, prefetch=0
        )
        rows = [
            run_child(
                "stream",
                url,
                pages=pages,
                page_size=page_size,
                consumer_s=consumer_ms / 1000,
                prefetch=p,
            )
            for p in (1, 2, 0)
        ]
    chain = chain_run["wall"]
    consumer = pages * consumer_ms / 1000
    bound = max(chain, consumer)
    print(
        f"network chain measured: {chain:.2f} s ({pages} x {latency_ms} ms latency = "
        f"{pages * latency_ms / 1000:.2f} s plus serving/decoding); consumer {consumer:.2f} s"
    )
    for r in rows:
        print(
            f"prefetch={r['prefetch']}: {r['pages']} pages, wall {r['wall']:.2f} s = "
            f"{r['wall'] / bound:.2f}x max(chain, consumer); sum would be "
            f"{chain + consumer:.2f} s"
        )


def w3(total: int) -> None:
    print(f"\nW3: stream {total:,} items (page size 1000), models built and dropped")
    with fake_server(sessions=total, analyses=0, latency_ms=0) as url:
        # The same stream with big pages decoded in one go (the 0.1 decoder) and in slices.
        for label, decode_slice in (("decoded in one go", 10**9), ("decoded in slices", None)):
            r = run_child("many", url, total=total, decode_slice=decode_slice)
            print(
                f"{label}: {r['items']:,} items in {r['wall']:.1f} s "
                f"({r['items'] / r['wall']:,.0f} items/s, CPU {r['cpu']:.1f} s); peak RSS "
                f"{r['rss_base_mb']:.0f} -> {r['rss_peak_mb']:.0f} MB, growth "
                f"{r['rss_growth_mb']:.1f} MB; heartbeat lag p50/p99/max "
                f"{r['hb_p50_ms']:.1f} / {r['hb_p99_ms']:.1f} / {r['hb_max_ms']:.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="w1a,w1b,w2,w3,decode")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--no-libica", action="store_true")
    parser.add_argument(
        "--libica-seq-sessions",
        type=int,
        default=None,
        help="run libica sequential on fewer sessions and scale (it is slow)",
    )
    parser.add_argument("--sessions", type=int, default=None, help="W1 sessions (2000)")
    parser.add_argument("--runs", type=int, default=1, help="W1a repetitions (medians)")
    parser.add_argument(
        "--variants",
        default="models,raw,trio",
        help="W1a aioica rows: " + ",".join(W1_VARIANTS),
    )
    parser.add_argument("--no-libica-seq", action="store_true", help="skip libica sequential")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="W1a: every row (floor included) calls gc.freeze() after its warm-up",
    )
    parser.add_argument("--w3-items", type=int, default=None, help="W3 items (200,000)")
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--opts")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, json.loads(args.opts))))
        return
    only = set(args.only.split(","))
    sessions = args.sessions or (200 if args.quick else 2000)
    with_libica = have_libica() and not args.no_libica
    if "w1a" in only:
        w1(
            20,
            sessions,
            with_libica,
            args.libica_seq_sessions,
            runs=args.runs,
            variants=tuple(filter(None, args.variants.split(","))),
            with_seq=not args.no_libica_seq,
            gc_freeze=args.gc_freeze,
        )
    if "w1b" in only:
        w1(100, sessions, False, None, variants=("models",))
    if "w2" in only:
        w2(10 if args.quick else 50)
    if "w3" in only:
        w3(args.w3_items or (20_000 if args.quick else 200_000))
    if "decode" in only:
        print("\nDecode: one page of 1,000 items (see benchmarks/decode.py)")
        subprocess.run([sys.executable, str(Path(__file__).with_name("decode.py"))], check=True)


if __name__ == "__main__":
    main()
