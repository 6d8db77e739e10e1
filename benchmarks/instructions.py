"""Instructions per W1a export under callgrind: aioica against the hand-written aiohttp floor.

    python benchmarks/instructions.py [--sessions 300] [--rows floor,models,raw,trio]

CPU time on a shared 2-core machine moves by 10-30 % between processes running the same code;
instruction counts do not. Each row runs its client in a fresh process under
``valgrind --tool=callgrind`` (the fake ICA is served by another process, which is not
counted), once with one export and once with three; the difference is the instructions of two
exports, start-up, imports and connection set-up cancelled out. The ``trio`` row (not run by
default) is the models export on trio, through httpx's connection pools. The floor makes
``streaming.floor_export``'s requests (the same as aioica's export, ``json.loads``, no models)
without its warm-up and heartbeat, and, like aioica's Session, keeps its connections across
exports.

Under callgrind the client is much slower than the network, so its event loop finds more
callbacks ready per pass than at full speed: the ratios are not the time ratios, but a row
repeats within 0.3 % (run one at a time: two at once change each other's pace, and the floor's
count moved by 3 %).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROJECT = "demo-project"


async def _floor_exports(url: str, times: int) -> None:
    """``streaming.floor_export``'s measured requests, without its warm-up, heartbeat and probes,
    on one ``aiohttp.ClientSession`` kept across exports (as aioica keeps its Session)."""
    import aiohttp

    from benchmarks.streaming import floor_call, floor_run

    base = f"{url}/api/projects/{PROJECT}/workflowSessions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:
        call = floor_call(http, asyncio.Semaphore(32), [0])
        for _ in range(times):
            await floor_run(call, base, 32, 100)


async def _exports(url: str, who: str, times: int) -> None:
    import aioica
    from benchmarks._server import API_KEY

    if who == "floor":
        await _floor_exports(url, times)
        return
    async with aioica.Session(
        auth=aioica.ApiKeyAuth(API_KEY),
        base_url=url,
        max_concurrency=32,
        # "trio": the models export on trio, where the session's transport is httpx's pools.
        transport="httpx" if who == "trio" else "auto",
    ) as ica:
        for _ in range(times):
            async with ica.export_workflow_sessions(
                PROJECT, page_size=100, raw=(who == "raw")
            ) as export:
                async for _record in export:
                    pass


def _child(who: str, times: int, sessions: int) -> None:
    from benchmarks._server import fake_server

    with fake_server(sessions=sessions, analyses=3, latency_ms=20) as url:
        if who == "trio":
            import anyio

            anyio.run(_exports, url, who, times, backend="trio")
        else:
            asyncio.run(_exports(url, who, times))


def _instructions(who: str, times: int, sessions: int, script: str = __file__) -> int:
    """Instructions of ``script --child who`` under callgrind (the server process not counted)."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        script,
        "--child",
        who,
        "--times",
        str(times),
        "--sessions",
        str(sessions),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def run_rows(doc: str, rows: str, child: Callable[[str, int, int], None], script: str) -> None:
    """The command line of a callgrind comparison: ``--rows`` (default ``rows``), each counted
    as two exports' instructions (three less one) of ``script --child ROW``, which ``child``
    runs; a table, with a ratio to the ``floor`` row when there is one."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--rows", default=rows)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--times", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.times, args.sessions)
        return
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind (apt install valgrind)")
    print(f"W1a export of {args.sessions} sessions, 20 ms latency, 32 in flight")
    print("| client | instructions per export | vs floor |")
    print("|---|---:|---:|")
    floor = None
    for who in (r.strip() for r in args.rows.split(",") if r.strip()):
        three, one = (_instructions(who, n, args.sessions, script) for n in (3, 1))
        count = (three - one) / 2
        if who == "floor":
            floor = count
        ratio = f"{count / floor:.2f}x" if floor else "-"
        print(f"| {who} | {count / 1e6:,.0f} M | {ratio} |", flush=True)


def main() -> None:
    run_rows(__doc__ or "", "floor,models,raw", _child, __file__)


if __name__ == "__main__":
    main()
