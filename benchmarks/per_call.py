"""Where W1a's extra CPU is: per call, or in the export's machinery?

    python benchmarks/per_call.py [--latency 20] [--rounds 3]

Against one fake ICA (its own process), in one asyncio process, rounds alternating:

1. Each of the export's request kinds sent on its own, 32 in flight: aioica (``raw=True``) and
   the same request on plain aiohttp with ``json.loads`` (the W1a floor's code). Client CPU per
   request, per round.
2. The W1a export (``raw=True``) against the same requests made by hand with aioica's single
   calls (the listing iterated, then per session inputs, configurations and the analyses
   chain, 32 sessions at a time). Equal CPU means the export's pipeline costs nothing of its
   own and the difference to the floor is in the calls.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aioica
from benchmarks._server import API_KEY, fake_server
from benchmarks.streaming import floor_call

PROJECT = "demo-project"


async def by_hand(ica: aioica.Session) -> int:
    """The export's requests through the single calls: listing, then 3 parts per session."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    found = 0

    async def lister() -> None:
        async for ws in ica.search_workflow_sessions(PROJECT, page_size=100, raw=True):
            await queue.put(ws["id"])
        for _ in range(32):
            await queue.put(None)

    async def worker() -> None:
        nonlocal found
        while (sid := await queue.get()) is not None:
            await ica.get_workflow_session_inputs(PROJECT, sid, raw=True)
            await ica.get_workflow_session_configurations(PROJECT, sid, raw=True)
            chain = ica.search_orchestrated_analyses(PROJECT, sid, raw=True, prefetch=0)
            async for _ in chain:
                found += 1

    await asyncio.gather(lister(), *(worker() for _ in range(32)))
    return found


async def exported(ica: aioica.Session) -> int:
    found = 0
    async with ica.export_workflow_sessions(PROJECT, page_size=100, raw=True) as export:
        async for record in export:
            found += len(record.analyses or ())
    return found


async def main(url: str, rounds: int) -> None:
    import aiohttp

    base = f"{url}/api/projects/{PROJECT}/workflowSessions"
    connector = aiohttp.TCPConnector(limit=32)
    async with (
        aioica.Session(auth=aioica.ApiKeyAuth(API_KEY), base_url=url, max_concurrency=32) as ica,
        aiohttp.ClientSession(connector=connector) as http,
    ):
        first = await ica.search_workflow_sessions(PROJECT, page_size=100, raw=True)
        ids = [item["id"] for item in first["items"]]
        floor = floor_call(http, asyncio.Semaphore(32), [0])

        Call = Callable[[int], Awaitable[Any]]
        kinds: dict[str, tuple[int, Call, Call]] = {
            "GET inputs": (
                1500,
                lambda i: floor("GET", f"{base}/{ids[i % len(ids)]}/inputs"),
                lambda i: ica.get_workflow_session_inputs(PROJECT, ids[i % len(ids)], raw=True),
            ),
            "POST analyses:search": (
                1500,
                lambda i: floor(
                    "POST", f"{base}/{ids[i % len(ids)]}/analyses:search", {"pageSize": "1000"}
                ),
                lambda i: ica.search_orchestrated_analyses(
                    PROJECT, ids[i % len(ids)], raw=True, page_size=1000
                ),
            ),
            "POST :search, 100 sessions": (
                200,
                lambda i: floor("POST", f"{base}:search", {"pageSize": "100"}),
                lambda i: ica.search_workflow_sessions(PROJECT, page_size=100, raw=True),
            ),
        }
        await by_hand(ica)  # warm-up: connections, decoders
        print("| request | floor CPU us/req | aioica CPU us/req | extra us/req | ratio |")
        print("|---|---:|---:|---:|---:|")
        for name, (n, on_floor, on_aioica) in kinds.items():
            cpu: dict[str, list[float]] = {"floor": [], "aioica": []}
            for _ in range(rounds):
                for who, call in (("floor", on_floor), ("aioica", on_aioica)):
                    cpu0 = time.process_time()
                    await asyncio.gather(*(call(i) for i in range(n)))
                    cpu[who].append((time.process_time() - cpu0) / n * 1e6)
            f, a = statistics.median(cpu["floor"]), statistics.median(cpu["aioica"])
            print(f"| {name} | {f:.0f} | {a:.0f} | {a - f:+.0f} | {a / f:.2f}x |")
        totals: dict[str, list[float]] = {"export": [], "by hand": []}
        for _ in range(rounds):
            for who, run in (("by hand", by_hand), ("export", exported)):
                cpu0 = time.process_time()
                await run(ica)
                totals[who].append(time.process_time() - cpu0)
        ratios = [e / h for e, h in zip(totals["export"], totals["by hand"], strict=True)]
        print(
            f"\nexport raw=True: {statistics.median(totals['export']):.2f} s CPU; the same "
            f"requests by hand with single calls: {statistics.median(totals['by hand']):.2f} s; "
            f"export / by hand per round: {', '.join(f'{r:.2f}' for r in ratios)}"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=20.0, help="ms per response (20)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=2000)
    args = parser.parse_args()
    print(f"{args.sessions} sessions, {args.latency:g} ms latency, 32 in flight")
    with fake_server(sessions=args.sessions, analyses=3, latency_ms=args.latency) as url:
        asyncio.run(main(url, args.rounds))


if __name__ == "__main__":
    cli()
