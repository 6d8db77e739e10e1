"""What resuming an export costs: ``aioica export -o FILE --resume`` after a run that stopped
part way, against a full run, in the same run of this script.

    python benchmarks/resume.py                     # 2,000 sessions, 20 ms, stop at 50 % and 90 %
    python benchmarks/resume.py --sessions 500 --at 0.5 --repeat 3

The fake ICA (``aioica.testing``) serves over loopback TCP from its own process. Every export
is the command line's own code (``aioica.cli.main``) in a fresh child process, timed around
``main()`` only (imports excluded): wall time, CPU (``time.process_time()``) and the requests
sent (from the command's own summary line). A run "stopped at 50 %" is the full run's output
cut to its first half of lines plus half of the next line, as a killed run leaves it; the
resumed run then reads that file, drops the partial line and fetches the rest.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._server import API_KEY, fake_server

PROJECT = "demo-project"


def child(url: str, argv: list[str]) -> dict[str, Any]:
    from aioica.cli import main

    os.environ.update(ICAV2_BASE_URL=url, ICAV2_X_API_KEY=API_KEY, ICAV2_PROJECT_ID=PROJECT)
    stderr, sys.stderr = sys.stderr, io.StringIO()
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        code = main(argv)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        summary = sys.stderr.getvalue()
    finally:
        sys.stderr = stderr
    # The command's own summary line counts the requests its session sent.
    found = re.search(r"([0-9,]+) requests", summary)
    requests = int(found.group(1).replace(",", "")) if found else -1
    return {"code": code, "wall": wall, "cpu": cpu, "requests": requests, "stderr": summary}


def run_child(url: str, argv: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--url", url, "--argv", json.dumps(argv)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise SystemExit(f"export failed ({result['code']}): {result['stderr'][-2000:]}")
    return result


def cut(full: Path, target: Path, fraction: float) -> int:
    """Write the first ``fraction`` of ``full``'s lines, plus half a line, to ``target``."""
    lines = full.read_bytes().splitlines(keepends=True)
    keep = int(len(lines) * fraction)
    partial = lines[keep][: len(lines[keep]) // 2] if keep < len(lines) else b""
    target.write_bytes(b"".join(lines[:keep]) + partial)
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--at", default="0.5,0.9", help="fractions done before the stop")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dir", default="/tmp/aioica-resume-bench")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--argv")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.url, json.loads(args.argv))))
        return
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    full = work / "full.jsonl"
    fractions = [float(f) for f in args.at.split(",")]
    common = ["--max-concurrency", str(args.concurrency), "export"]
    print(
        f"Resume: {args.sessions:,} sessions x ~3 analyses, {args.latency_ms:g} ms latency, "
        f"{args.concurrency} in flight; times around main() in a fresh process"
    )
    print("| run | sessions fetched | requests | wall s | CPU s | wall / full | CPU / full |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with fake_server(sessions=args.sessions, analyses=3, latency_ms=args.latency_ms) as url:
        for _ in range(args.repeat):
            base = run_child(url, [*common, "-o", str(full)])
            print(_row("full run", args.sessions, base, base))
            for fraction in fractions:
                target = work / f"resume-{fraction:g}.jsonl"
                kept = cut(full, target, fraction)
                r = run_child(url, [*common, "-o", str(target), "--resume"])
                lines = target.read_bytes().splitlines()
                ids = {json.loads(line)["workflowSession"]["id"] for line in lines}
                assert len(lines) == len(ids) == args.sessions, "resume did not complete the file"
                fetched = args.sessions - kept
                print(_row(f"resume after {fraction:.0%}", fetched, r, base))


def _row(name: str, fetched: int, r: dict[str, Any], base: dict[str, Any]) -> str:
    return (
        f"| {name} | {fetched:,} | {r['requests']:,} | {r['wall']:.2f} | {r['cpu']:.2f} | "
        f"{r['wall'] / base['wall']:.2f} | {r['cpu'] / base['cpu']:.2f} |"
    )


if __name__ == "__main__":
    main()
