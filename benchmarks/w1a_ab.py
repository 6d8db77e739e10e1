"""W1a's aioica export with the changes of issue #15 switched on and off, in one process.

    python benchmarks/w1a_ab.py [--sessions 500] [--rounds 5]

On a busy machine, figures of separate processes move by more than these changes are worth;
here every configuration runs in turn in the same process against the same fake ICA (its own
process), round after round, and the median client CPU of each is compared, with the median p99 and
maximum lag of a 1 ms heartbeat task in the same loop. Configurations:

- ``0.1 send``: requests through ``httpx.AsyncClient.send`` (as 0.1.0 did; requests are still
  built from templates).
- ``fast send``: the fast send path (``aioica/_fastpath.py``).
- ``fast send + no-yield limiter``: and a limiter that takes a free slot without the
  cancel-shielded checkpoint anyio's ``CapacityLimiter`` makes (measured, not adopted).
- ``fast send + sequential parts``: and the export change of ``_export_variant.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aioica
from benchmarks._export_variant import SequentialPartsExport
from benchmarks._server import API_KEY, fake_server
from benchmarks.streaming import Heartbeat

PROJECT = "demo-project"
CONFIGS = {
    "0.1 send": {"fast": False, "limiter": False, "sequential": False},
    "fast send": {"fast": True, "limiter": False, "sequential": False},
    "fast send + no-yield limiter": {"fast": True, "limiter": True, "sequential": False},
    "fast send + sequential parts": {"fast": True, "limiter": False, "sequential": True},
}


class NoYieldLimiter:
    """``async with``: a free slot taken at once (after a cancellation check), else queue."""

    def __init__(self, total: int) -> None:
        self._inner = anyio.CapacityLimiter(total)

    async def __aenter__(self) -> None:
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            self._inner.acquire_nowait()
        except anyio.WouldBlock:
            await self._inner.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._inner.release()


async def export(
    url: str, fast: bool, limiter: bool, sequential: bool, raw: bool
) -> tuple[float, dict[str, float]]:
    async with aioica.Session(auth=aioica.ApiKeyAuth(API_KEY), base_url=url) as ica:
        requester = ica._requester
        assert requester is not None
        requester._send._enabled = fast
        if limiter:
            requester.limiter = NoYieldLimiter(ica.max_concurrency)  # type: ignore[assignment]
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
        beat = Heartbeat()
        async with anyio.create_task_group() as tg:
            tg.start_soon(beat.run)
            cpu0 = time.process_time()
            async with it:
                async for _ in it:
                    pass
            cpu = time.process_time() - cpu0
            beat.running = False
        return cpu, beat.summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    cpu: dict[str, list[float]] = {name: [] for name in CONFIGS}
    lag: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    with fake_server(sessions=args.sessions, analyses=3, latency_ms=20) as url:
        anyio.run(export, url, True, True, False, args.raw)  # warm-up
        for _ in range(args.rounds):
            for name, config in CONFIGS.items():
                used, beat = anyio.run(lambda c=config: export(url, raw=args.raw, **c))
                cpu[name].append(used)
                lag[name].append(beat)
    base = statistics.median(cpu["0.1 send"])
    requests = args.sessions * 3 + -(-args.sessions // 100)
    print(
        f"W1a export, {args.sessions} sessions, {'raw' if args.raw else 'models'}, median of "
        f"{args.rounds} rounds"
    )
    print("| configuration | CPU s (median) | CPU/req ms | vs 0.1 send | hb p99 / max ms |")
    print("|---|---:|---:|---:|---:|")
    for name, values in cpu.items():
        med = statistics.median(values)
        p99 = statistics.median(b["hb_p99_ms"] for b in lag[name])
        top = statistics.median(b["hb_max_ms"] for b in lag[name])
        print(
            f"| {name} | {med:.3f} | {med / requests * 1000:.3f} | {med / base:.2f}x | "
            f"{p99:.1f} / {top:.1f} |"
        )


if __name__ == "__main__":
    main()
