"""`aioica sync` (SQLite mirror) against `aioica export -o FILE`, same fake, same run.

    python benchmarks/mirror.py                    # 2,000 sessions, 20 ms latency, 3 rounds
    python benchmarks/mirror.py --sessions 5000 --rounds 5

The fake ICA is served over loopback TCP from this process (uvicorn in a thread); each client
run is the real command line in a child process (`python -m aioica ...`, `-q`), so both pay
the same start-up and neither shares a CPU budget with the server's Python. Rounds alternate
export and full first sync (into a fresh file) so that machine noise hits both alike; wall
and child CPU (`RUSAGE_CHILDREN`) are medians, and the per-round sync/export ratios are
summarised too. ``--noop-writer`` adds a first sync whose writer writes nothing to every round:
the bound any writer can reach. Then the incremental runs: a second sync of the unchanged
project, and a sync after one `FakeICA.advance()` step.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aioica.testing import Dataset, FakeICA, Faults, serve_in_thread  # noqa: E402

PROJECT = "demo-project"


# `aioica sync` whose writer writes nothing (rows still built and sent to it): what no writer
# can beat, the bound for the database's share of a first sync.
NOOP_WRITER = (
    "import sys; from aioica._mirror._store import Store; Store.write = lambda *a: None; "
    "from aioica.cli import main; sys.exit(main())"
)


def run(argv: list[str], env: dict[str, str], *, noop_writer: bool = False) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    command = ["-c", NOOP_WRITER] if noop_writer else ["-m", "aioica"]
    done = subprocess.run(
        [sys.executable, *command, "-q", *argv], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--analyses", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--noop-writer",
        action="store_true",
        help="also run, in each round, a first sync whose writer writes nothing",
    )
    args = parser.parse_args()

    fake = FakeICA(
        Dataset(seed=0, projects=[PROJECT], sessions=args.sessions, analyses=args.analyses),
        faults=Faults(latency_ms=args.latency_ms),
    )
    with serve_in_thread(fake) as url, tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ICAV2_BASE_URL": url,
            "ICAV2_X_API_KEY": fake.api_key,
            "ICAV2_PROJECT_ID": PROJECT,
        }
        kinds = ("export", "sync", "noop") if args.noop_writer else ("export", "sync")
        results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for r in range(args.rounds):
            out = os.path.join(tmp, f"export-{r}.jsonl")
            db = os.path.join(tmp, f"mirror-{r}.db")
            for kind in kinds if r % 2 == 0 else kinds[::-1]:
                fake.counters.reset()
                if kind == "export":
                    argv = ["export", "-o", out]
                else:
                    argv = ["sync", db if kind == "sync" else os.path.join(tmp, f"noop-{r}.db")]
                res = run(argv, env, noop_writer=kind == "noop")
                res["requests"] = fake.counters.requests
                results[kind].append(res)
        db = os.path.join(tmp, f"mirror-{args.rounds - 1}.db")
        fake.counters.reset()
        second = run(["sync", db], env)
        second["requests"] = fake.counters.requests
        fake.advance()
        fake.counters.reset()
        third = run(["sync", db], env)
        third["requests"] = fake.counters.requests
        with sqlite3.connect(db) as conn:
            runs = conn.execute(
                "SELECT new, changed, refreshed, unchanged, removed, failed FROM sync_runs "
                "ORDER BY id"
            ).fetchall()

    def med(kind: str, key: str) -> float:
        return statistics.median(x[key] for x in results[kind])

    print(
        f"{args.sessions:,} sessions x ~{args.analyses} analyses, {args.latency_ms:g} ms "
        f"latency, {args.rounds} rounds (median)"
    )
    print("| command | wall s | CPU s | requests | wall vs export | CPU vs export |")
    print("|---|---:|---:|---:|---:|---:|")
    labels = {
        "export": "aioica export -o FILE",
        "sync": "aioica sync DB (first)",
        "noop": "aioica sync DB (first), writer writes nothing",
    }
    for kind in kinds:
        label = labels[kind]
        print(
            f"| {label} | {med(kind, 'wall'):.2f} | {med(kind, 'cpu'):.2f} | "
            f"{results[kind][0]['requests']:,} | {med(kind, 'wall') / med('export', 'wall'):.2f}x"
            f" | {med(kind, 'cpu') / med('export', 'cpu'):.2f}x |"
        )
    # Each round ran both commands back to back: their ratio within a round cancels the slow
    # drifts of a shared machine better than a ratio of medians.
    for kind in kinds[1:]:
        for key in ("wall", "cpu"):
            paired = sorted(
                s[key] / e[key] for s, e in zip(results[kind], results["export"], strict=True)
            )
            print(
                f"    {labels[kind]} / export, {key} per round: median "
                f"{statistics.median(paired):.3f}x, range {paired[0]:.3f}-{paired[-1]:.3f}x, "
                f"faster in {sum(r < 1 for r in paired)} of {len(paired)}",
                file=sys.stderr,
            )
    for label, res, counts in (
        ("aioica sync DB (unchanged)", second, runs[-2]),
        ("aioica sync DB (after advance)", third, runs[-1]),
    ):
        print(
            f"| {label} | {res['wall']:.2f} | {res['cpu']:.2f} | {res['requests']:,} | "
            f"{res['wall'] / med('export', 'wall'):.2f}x | "
            f"{res['cpu'] / med('export', 'cpu'):.2f}x |"
        )
        print(
            "    new/changed/refreshed/unchanged/removed/failed: "
            + "/".join(str(c) for c in counts),
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
