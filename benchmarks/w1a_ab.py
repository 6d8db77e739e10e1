"""W1a's aioica export with the changes of issue #15 switched on and off, in one process.

    python benchmarks/w1a_ab.py [--sessions 500] [--rounds 5]

On a busy machine, figures of separate processes move by more than these changes are worth;
here every configuration runs in turn in the same process against the same fake ICA (its own
process), round after round, and the median client CPU of each is compared. Configurations:

- ``0.1 send``: requests through ``httpx.AsyncClient.send`` and anyio's ``CapacityLimiter``
  (as 0.1.0 did; requests are still built from templates).
- ``fast send``: the fast send path (``aioica/_fastpath.py``).
- ``fast send + limiter``: and the session limiter that takes a free slot without yielding.
- ``... + sequential parts``: and the export change measured in ``_export_variant.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aioica
from benchmarks._export_variant import SequentialPartsExport
from benchmarks._server import API_KEY, fake_server

PROJECT = "demo-project"
CONFIGS = {
    "0.1 send": {"fast": False, "limiter": False, "sequential": False},
    "fast send": {"fast": True, "limiter": False, "sequential": False},
    "fast send + limiter": {"fast": True, "limiter": True, "sequential": False},
    "fast send + limiter + sequential parts": {"fast": True, "limiter": True, "sequential": True},
}


async def export(url: str, fast: bool, limiter: bool, sequential: bool, raw: bool) -> float:
    async with aioica.Session(auth=aioica.ApiKeyAuth(API_KEY), base_url=url) as ica:
        requester = ica._requester
        assert requester is not None
        requester._send._enabled = fast
        if not limiter:
            requester.limiter = anyio.CapacityLimiter(ica.max_concurrency)
        await ica.search_workflow_sessions(PROJECT, page_size=1)
        it: Any = (
            SequentialPartsExport(
                ica,
                PROJECT,
                analysis_query_parameters=None,
                include=("inputs", "configurations", "analyses"),
                concurrency=None,
                ordered=False,
                page_size=100,
                retry=None,
                raw=raw,
            )
            if sequential
            else ica.export_workflow_sessions(PROJECT, page_size=100, raw=raw)
        )
        cpu0 = time.process_time()
        async with it:
            async for _ in it:
                pass
        return time.process_time() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    with fake_server(sessions=args.sessions, analyses=3, latency_ms=20) as url:
        anyio.run(export, url, True, True, False, args.raw)  # warm-up
        for _ in range(args.rounds):
            for name, config in CONFIGS.items():
                cpu[name].append(anyio.run(lambda c=config: export(url, raw=args.raw, **c)))
    base = statistics.median(cpu["0.1 send"])
    requests = args.sessions * 3 + -(-args.sessions // 100)
    print(
        f"W1a export, {args.sessions} sessions, {'raw' if args.raw else 'models'}, median of "
        f"{args.rounds} rounds"
    )
    print("| configuration | CPU s (median) | CPU/req ms | vs 0.1 send |")
    print("|---|---:|---:|---:|")
    for name, values in cpu.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.3f} | {med / requests * 1000:.3f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
