"""Streaming and fan-out benchmarks (W1a, W1b, W2, W3, decode) against the fake ICA.

    python benchmarks/streaming.py                 # everything (several minutes)
    python benchmarks/streaming.py --only w1a,w2   # a subset
    python benchmarks/streaming.py --quick         # smaller sizes, for a smoke run

Every workload runs in a fresh child process (so CPU and peak RSS are its own) against the fake
ICA served over loopback TCP by another process (so the server's CPU is not counted). CPU is
``time.process_time()`` over the measured span only, not interpreter start or imports. libica
(``pip install libica``) is measured in the same run when importable.

W1a  export 2,000 sessions x ~3 analyses, page size 100, 20 ms latency: aioica at
     max_concurrency 32 vs libica sequential and libica with 32 threads.
W1b  the same aioica export at 100 ms latency.
W2   one cursor stream of 50 pages, a consumer spending 20 ms per page: prefetch 1 vs 0.
W3   stream 200,000 items: peak RSS growth of the client.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aioica
from benchmarks._server import API_KEY, fake_server

PROJECT = "demo-project"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- aioica ------------------------------------------------------------------------------------


async def aioica_export(url: str, concurrency: int, page_size: int) -> dict[str, Any]:
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(API_KEY), base_url=url, max_concurrency=concurrency
    ) as ica:
        # Warm-up outside the measured span: imports, first connections, generated decoders.
        await ica.search_workflow_sessions(PROJECT, page_size=1)
        sent0 = ica.requests_sent
        cpu0, wall0 = time.process_time(), time.perf_counter()
        sessions = analyses = 0
        async with ica.export_workflow_sessions(PROJECT, page_size=page_size) as export:
            async for record in export:
                sessions += 1
                analyses += len(record.analyses or ())
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        return {
            "client": f"aioica export ({ica.transport_name}, {concurrency} in flight)",
            "sessions": sessions,
            "analyses": analyses,
            "requests": ica.requests_sent - sent0,
            "wall": wall,
            "cpu": cpu,
            "peak_rss_mb": rss_mb(),
            "transport": ica.transport_name,
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


async def aioica_many_items(url: str, total: int) -> dict[str, Any]:
    async with aioica.Session(auth=aioica.ApiKeyAuth(API_KEY), base_url=url) as ica:
        # Baseline after a first full page: decoders built, buffers allocated once.
        await ica.search_workflow_sessions(PROJECT, page_size=1000)
        base = rss_mb()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        n = 0
        async for _ws in ica.search_workflow_sessions(PROJECT, page_size=1000):
            n += 1
        return {
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
        return anyio.run(aioica_export, url, opts["concurrency"], opts["page_size"])
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
        return anyio.run(aioica_many_items, url, opts["total"])
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


def w1(latency_ms: float, sessions: int, with_libica: bool, seq_sessions: int | None) -> None:
    page_size, conc = 100, 32
    print(
        f"\nW1 @ {latency_ms:.0f} ms: export {sessions} sessions x ~3 analyses, page size "
        f"{page_size}, {conc} in flight"
    )
    rows = []
    with fake_server(sessions=sessions, analyses=3, latency_ms=latency_ms) as url:
        rows.append(run_child("aioica-export", url, concurrency=conc, page_size=page_size))
        if with_libica:
            rows.append(run_child("libica-export", url, page_size=page_size, threads=32))
    if with_libica:
        # Sequential libica takes requests x latency; a smaller dataset, scaled, says the same.
        n = seq_sessions or sessions
        with fake_server(sessions=n, analyses=3, latency_ms=latency_ms) as url:
            seq = run_child("libica-export", url, page_size=page_size, threads=1)
        if n != sessions:
            scale = sessions / n
            for key in ("wall", "cpu", "requests", "sessions", "analyses"):
                seq[key] = seq[key] * scale
            seq["client"] += f" (measured on {n} sessions, scaled x{scale:g})"
        rows.append(seq)
    aio = rows[0]
    bound = aio["requests"] * latency_ms / 1000 / conc
    print(
        f"bound = requests x latency / concurrency = {aio['requests']} x {latency_ms:.0f} ms "
        f"/ {conc} = {bound:.2f} s"
    )
    print(
        f"| {'client':58} | {'wall s':>7} | {'CPU s':>6} | {'CPU/req ms':>10} | "
        f"{'peak RSS MB':>11} | {'requests':>8} | {'sessions':>8} | {'analyses':>8} | "
        f"{'wall/bound':>10} |"
    )
    print("|" + "|".join("-" * (w + 2) for w in (58, 7, 6, 10, 11, 8, 8, 8, 10)) + "|")
    for r in rows:
        print(
            f"| {r['client']:58} | {r['wall']:7.2f} | {r['cpu']:6.2f} | "
            f"{r['cpu'] / r['requests'] * 1000:10.3f} | {r['peak_rss_mb']:11.0f} | "
            f"{r['requests']:8.0f} | {r['sessions']:8.0f} | {r['analyses']:8.0f} | "
            f"{r['wall'] / bound:9.2f}x |"
        )
    for r in rows[1:]:
        print(
            f"aioica vs {r['client']}: {r['wall'] / aio['wall']:.1f}x faster wall, "
            f"CPU {aio['cpu'] / r['cpu']:.2f}x of theirs"
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
        r = run_child("many", url, total=total)
    print(
        f"{r['items']:,} items in {r['wall']:.1f} s ({r['items'] / r['wall']:,.0f} items/s, "
        f"CPU {r['cpu']:.1f} s); peak RSS {r['rss_base_mb']:.0f} -> {r['rss_peak_mb']:.0f} MB, "
        f"growth {r['rss_growth_mb']:.1f} MB"
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
    parser.add_argument("--child")
    parser.add_argument("--url")
    parser.add_argument("--opts")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, json.loads(args.opts))))
        return
    only = set(args.only.split(","))
    sessions = 200 if args.quick else 2000
    with_libica = have_libica() and not args.no_libica
    if "w1a" in only:
        w1(20, sessions, with_libica, args.libica_seq_sessions)
    if "w1b" in only:
        w1(100, sessions, False, None)
    if "w2" in only:
        w2(10 if args.quick else 50)
    if "w3" in only:
        w3(20_000 if args.quick else 200_000)
    if "decode" in only:
        print("\nDecode: one page of 1,000 items (see benchmarks/decode.py)")
        subprocess.run([sys.executable, str(Path(__file__).with_name("decode.py"))], check=True)


if __name__ == "__main__":
    main()
