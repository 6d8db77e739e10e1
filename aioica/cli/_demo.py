"""``aioica demo``: a fake ICA on a loopback port, exported (or mirrored) through the real HTTP
stack, with a summary of what it took."""

from __future__ import annotations

import os
import time
from typing import Any

from .._auth import ApiKeyAuth
from .._config import ConfigurationError
from .._export import PARTS
from ._codes import EXIT_OK
from ._export import export_into
from ._output import Writer, open_output
from ._runtime import Runtime
from ._sync import sync_ticker

__all__ = ["DEMO_OUTPUT", "DEMO_PROJECT", "cmd_demo"]

DEMO_OUTPUT = "aioica-demo-export.jsonl"
DEMO_PROJECT = "demo-project"


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def _size(path: str) -> int:
    return os.path.getsize(path)


async def cmd_demo(rt: Runtime) -> int:
    """``aioica demo``."""
    args = rt.args
    try:
        import uvicorn  # noqa: F401  (the TCP server of the fake)

        from ..testing import Dataset, FakeICA, Faults, serve
    except ImportError as exc:
        raise ConfigurationError(
            f"aioica demo needs the 'demo' extra (pip install 'aioica[demo]'): {exc}"
        ) from None
    path = _absolute(args.output)
    fake = FakeICA(
        Dataset(seed=0, projects=[DEMO_PROJECT], sessions=args.sessions, analyses=args.analyses),
        faults=Faults(latency_ms=args.latency_ms, jitter_ms=args.latency_ms / 2),
    )
    rt.note(
        f"Starting a fake ICA with {args.sessions:,} workflow sessions "
        f"(~{args.analyses} analyses each, {args.latency_ms:g} ms latency per request)..."
    )
    if args.sync:
        return await _demo_sync(rt, fake, args.sync)
    async with serve(fake) as url:
        session = rt.session(auth=ApiKeyAuth(fake.api_key), base_url=url)
        async with session as ica:
            rt.note(
                f"Exporting {DEMO_PROJECT} from {url} over HTTP "
                f"({ica.transport_name} transport, {ica.max_concurrency} requests in flight)"
            )
            with open_output(path) as stream:
                writer = Writer(stream, "jsonl", "export")
                started = time.perf_counter()
                with rt.progress(
                    "export", "sessions", lambda: ica.requests_sent, to_stdout=False
                ) as bar:
                    bar.set_total(args.sessions)
                    done = await export_into(
                        ica,
                        DEMO_PROJECT,
                        writer,
                        bar,
                        include=PARTS,
                        concurrency=None,
                        aqp=None,
                    )
                    sessions, analyses = done.sessions, done.analyses
                wall = time.perf_counter() - started
            requests = ica.requests_sent
    size = _size(path)
    rate = sessions / wall if wall > 0 else 0.0
    req_rate = requests / wall if wall > 0 else 0.0
    print(
        "\n".join(
            [
                "aioica demo: full export of a fake ICA project through the real HTTP stack",
                f"  sessions     {sessions:,}",
                f"  analyses     {analyses:,}",
                f"  requests     {requests:,}",
                f"  wall time    {wall:.2f} s",
                f"  throughput   {rate:,.0f} sessions/s ({req_rate:,.0f} requests/s)",
                f"  output       {path} ({size / 1e6:.1f} MB, one JSON object per line)",
                f"Next: head -n 1 {args.output} | python -m json.tool",
            ]
        ),
        flush=True,
    )
    return EXIT_OK


async def _demo_sync(rt: Runtime, fake: Any, db: str) -> int:
    """``aioica demo --sync DB``: a first sync, the fake's data one step on, a second sync."""
    from .._mirror import MirrorError, SyncReport
    from ..testing import serve

    lines = ["aioica demo: a local SQLite mirror of a fake ICA project, kept up to date"]
    async with serve(fake) as url:
        async with rt.session(auth=ApiKeyAuth(fake.api_key), base_url=url) as ica:
            for label in ("sync", "sync again"):
                if label == "sync again":
                    step = fake.advance()
                    lines.append(
                        f"  (the fake moved on: {len(step.progressed[DEMO_PROJECT]):,} sessions "
                        f"progressed, {len(step.added[DEMO_PROJECT]):,} appeared, "
                        f"{len(step.removed[DEMO_PROJECT]):,} disappeared)"
                    )
                with rt.progress(
                    "sync", "sessions", lambda: ica.requests_sent, to_stdout=False, bar_width=10
                ) as bar:
                    try:
                        report: SyncReport = await ica.sync_workflow_sessions(
                            DEMO_PROJECT, db, on_session=sync_ticker(bar)
                        )
                    except MirrorError as exc:
                        raise ConfigurationError(str(exc)) from None
                lines.append(
                    f"  {label:<11} {report.requests:>7,} requests in {report.elapsed:.2f} s: "
                    f"{report.new:,} new, {report.changed:,} changed,"
                )
                lines.append(
                    f"  {'':<11} {report.refreshed:,} refreshed, {report.unchanged:,} unchanged, "
                    f"{report.removed:,} removed"
                )
    lines.append(f"Next: sqlite3 {db} 'SELECT status, count(*) FROM workflow_sessions GROUP BY 1'")
    print("\n".join(lines), flush=True)
    return EXIT_OK
