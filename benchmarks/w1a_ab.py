"""W1a's aioica export with the changes of issue #15 switched on and off, in one process.

    python benchmarks/w1a_ab.py [--sessions 500] [--rounds 5] [--raw] [--trio]
        [--only "+ sequential parts,after" --base "+ sequential parts"]

On a busy machine, figures of separate processes move by more than these changes are worth;
here every configuration runs in turn in the same process against the same fake ICA (its own
process), round after round in a shuffled order, and each is compared with ``before`` (or
``--base``) by the median of its per-round CPU ratios, with the median p99 and maximum lag of a
1 ms heartbeat task in the same loop, the maximum outside the collector's full passes, and the
full passes (count and longest) in the measured span. Configurations (each switch puts back
what the code did before the change, by replacing one function):

- ``0.1 send``: requests through ``httpx.AsyncClient.send`` as 0.1.0 did, with the other two
  switches off too.
- ``before``: the fast send path, a session's parts in a task group of their own, every body
  read through httpx's ``aiter_raw``.
- ``+ sequential parts``: a session's parts one after another (``_ExportJob._sequential_parts``),
  every exchange through the fast send path and httpx objects.
- ``after``: the code as it is: also the direct path (``aioica._direct``: a plain 2xx exchange on
  the aiohttp transport builds no httpx objects). It applies on asyncio with aiohttp only, so on
  ``--trio`` it equals ``+ sequential parts``.

The second round also measured a "direct body read" (a body the transport had read decoded
straight from its bytes): about 1 % of a request's CPU, for two more httpx internals; it was not
kept (benchmarks/README.md). The ``RateGate``/``_attempt`` change (no clock read while no 429
ever paused the session) is in every configuration: it has no switch.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aioica
from aioica._export import _ExportJob
from benchmarks._server import API_KEY, fake_server
from benchmarks.streaming import GcProbe, Heartbeat

PROJECT = "demo-project"
CONFIGS = {
    "0.1 send": {"fast": False, "sequential": False, "direct": False},
    "before": {"fast": True, "sequential": False, "direct": False},
    "+ sequential parts": {"fast": True, "sequential": True, "direct": False},
    "after": {"fast": True, "sequential": True, "direct": True},
}
_SEQUENTIAL = _ExportJob._sequential_parts


def _switch(sequential: bool) -> None:
    _ExportJob._sequential_parts = _SEQUENTIAL if sequential else (lambda self: False)  # type: ignore[method-assign]


async def export(
    url: str, fast: bool, sequential: bool, raw: bool, transport: str = "auto", direct: bool = True
) -> tuple[float, float, dict[str, float]]:
    _switch(sequential)
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(API_KEY), base_url=url, transport=transport
    ) as ica:
        requester = ica._requester
        assert requester is not None
        requester.sender._enabled = fast
        if not direct:
            requester.direct = None
        await ica.search_workflow_sessions(PROJECT, page_size=1)
        it: Any = ica.export_workflow_sessions(PROJECT, page_size=100, raw=raw)
        probe = GcProbe()
        beat = Heartbeat(probe=probe)
        async with anyio.create_task_group() as tg:
            tg.start_soon(beat.run)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with probe:
                async with it:
                    async for _ in it:
                        pass
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            beat.running = False
        return cpu, wall, {**beat.summary(), **probe.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw", action="store_true")
    parser.add_argument("--trio", action="store_true", help="trio and the pooled httpx transport")
    parser.add_argument("--base", default="before", choices=sorted(CONFIGS), help="compare with")
    parser.add_argument("--only", help="configurations to run, comma-separated (default: all)")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(CONFIGS)
    if args.base not in names or not set(names) <= set(CONFIGS):
        parser.error(f"--only takes names from {sorted(CONFIGS)}, the --base one included")
    cpu: dict[str, list[float]] = {name: [] for name in names}
    walls: dict[str, list[float]] = {name: [] for name in names}
    backend, transport = ("trio", "httpx") if args.trio else ("asyncio", "auto")
    lag: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    with fake_server(sessions=args.sessions, analyses=3, latency_ms=20) as url:
        anyio.run(export, url, True, True, args.raw, transport, backend=backend)  # warm-up
        order = list(names)
        shuffle = random.Random(15).shuffle
        for _ in range(args.rounds):
            shuffle(order)  # no configuration always runs first (or last) in a round
            for name in order:
                config = CONFIGS[name]
                used, wall, beat = anyio.run(
                    lambda c=config: export(url, raw=args.raw, transport=transport, **c),
                    backend=backend,
                )
                cpu[name].append(used)
                walls[name].append(wall)
                lag[name].append(beat)
    base, base_wall = cpu[args.base], walls[args.base]
    requests = args.sessions * 3 + -(-args.sessions // 100)
    print(
        f"W1a export, {args.sessions} sessions, {'raw' if args.raw else 'models'}, {backend}, "
        f"median of {args.rounds} rounds"
    )
    print(
        f"| configuration | CPU s (median) | CPU/req ms | CPU vs {args.base} | wall vs {args.base} "
        "| hb p99 / max / max w/o full GC ms | full GC passes, longest ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, values in cpu.items():
        med = statistics.median(values)
        # The median of the per-round ratios: a round's configurations ran minutes apart at
        # most, so a busy spell of the machine moves them together.
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        wall_ratio = statistics.median(v / b for v, b in zip(walls[name], base_wall, strict=True))
        p99 = statistics.median(b["hb_p99_ms"] for b in lag[name])
        top = statistics.median(b["hb_max_ms"] for b in lag[name])
        nofull = statistics.median(b["hb_max_nofull_ms"] for b in lag[name])
        full = statistics.median(b["gc_full"] for b in lag[name])
        longest = statistics.median(b["gc_full_max_ms"] for b in lag[name])
        print(
            f"| {name} | {med:.3f} | {med / requests * 1000:.3f} | {ratio:.2f}x | "
            f"{wall_ratio:.2f}x | {p99:.1f} / {top:.1f} / {nofull:.1f} | {full:g}, {longest:.1f} |"
        )


if __name__ == "__main__":
    main()
