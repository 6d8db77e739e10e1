"""W1a's export by two checkouts of aioica and by the hand-written floor, in one process.

    python benchmarks/checkouts_ab.py --before ../aioica-before [--rounds 15] [--raw] [--trio]

``--before`` is another checkout (say ``git worktree add ../aioica-before <commit>``): its
``aioica`` package is loaded under the name ``aioica_before`` next to this checkout's
``aioica``. Every round runs the floor (``streaming.floor_run`` on aiohttp, ``json.loads``, no
models), the export of the checkout before and the export of this one, in a shuffled order, each
in a fresh event loop against the same fake ICA (its own process; 1,000 sessions, ~3 analyses
each, 20 ms latency, 32 in flight), after one warm-up request that opens the connections. A
row's figure is the median of its per-round ratios to the floor of the same round; separate
processes on a shared machine move by more than the changes measured here. ``--trio`` runs
both exports on trio (through httpx's connection pools); the floor stays on asyncio.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio

import aioica
from benchmarks._server import API_KEY, fake_server
from benchmarks.streaming import floor_call, floor_run

PROJECT = "demo-project"
Spans = tuple[float, float]  # CPU s, wall s


def load_package(name: str, directory: Path) -> ModuleType:
    """Import the package in ``directory`` under ``name`` (its relative imports follow)."""
    spec = importlib.util.spec_from_file_location(
        name, directory / "__init__.py", submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"no package in {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


async def floor(url: str) -> Spans:
    import aiohttp

    base = f"{url}/api/projects/{PROJECT}/workflowSessions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:
        call = floor_call(http, asyncio.Semaphore(32), [0])
        await call("GET", base, {"pageSize": "1"})
        cpu, wall = time.process_time(), time.perf_counter()
        await floor_run(call, base, 32, 100)
        return time.process_time() - cpu, time.perf_counter() - wall


async def export(package: Any, url: str, raw: bool, transport: str = "auto") -> Spans:
    auth = package.ApiKeyAuth(API_KEY)
    session = package.Session(auth=auth, base_url=url, max_concurrency=32, transport=transport)
    async with session as ica:
        await ica.search_workflow_sessions(PROJECT, page_size=1)
        cpu, wall = time.process_time(), time.perf_counter()
        async with ica.export_workflow_sessions(PROJECT, page_size=100, raw=raw) as records:
            async for _ in records:
                pass
        return time.process_time() - cpu, time.perf_counter() - wall


def _summary(values: list[float]) -> str:
    values = sorted(values)
    low, _, high = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):.2f}x ({low:.2f}-{high:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--trio", action="store_true", help="the exports on trio")
    args = parser.parse_args()
    before = load_package("aioica_before", args.before.resolve() / "aioica")
    backend, transport = ("trio", "httpx") if args.trio else ("asyncio", "auto")

    def on_loop(package: Any) -> Callable[[str], Spans]:
        def run(url: str) -> Spans:
            spans: Spans = anyio.run(export, package, url, args.raw, transport, backend=backend)
            return spans

        return run

    runs: dict[str, Callable[[str], Spans]] = {
        "floor": lambda url: asyncio.run(floor(url)),
        "before": on_loop(before),
        "after": on_loop(aioica),
    }
    spans: dict[str, list[Spans]] = {name: [] for name in runs}
    with fake_server(sessions=args.sessions, analyses=3, latency_ms=20) as url:
        for run in runs.values():
            run(url)  # warm-up: imports, generated decoders, caches
        order = list(runs)
        shuffle = random.Random(7).shuffle
        for _ in range(args.rounds):
            shuffle(order)
            for name in order:
                spans[name].append(runs[name](url))
    floor_spans = spans["floor"]
    print(
        f"W1a export, {args.sessions} sessions, {'raw' if args.raw else 'models'} on {backend}, "
        f"{args.rounds} rounds; medians of the per-round ratios (interquartile range)"
    )
    print(f"floor CPU per export: {statistics.median(s[0] for s in floor_spans):.3f} s")
    print("| code | CPU vs floor | wall vs floor |")
    print("|---|---:|---:|")
    for name in ("before", "after"):
        cpu = [s[0] / f[0] for s, f in zip(spans[name], floor_spans, strict=True)]
        wall = [s[1] / f[1] for s, f in zip(spans[name], floor_spans, strict=True)]
        print(f"| {name} | {_summary(cpu)} | {_summary(wall)} |")
    ratio = [a[0] / b[0] for a, b in zip(spans["after"], spans["before"], strict=True)]
    print(f"after / before, CPU: {_summary(ratio)}")


if __name__ == "__main__":
    main()
