"""Export every workflow session of a project, with inputs, configurations and orchestrated
analyses, to a JSON Lines file (one wire-shaped JSON object per session per line).

    python examples/export_project.py [OUTPUT]      # default: export.jsonl

With ICAV2_X_API_KEY (or ICAV2_ACCESS_TOKEN) and ICAV2_PROJECT_ID set, this talks to ICA;
without credentials it starts the embedded fake ICA (``pip install 'aioica[fake]'``).
The ``aioica export`` command does the same from a shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import TextIO

import anyio

import aioica


@contextlib.asynccontextmanager
async def open_ica() -> AsyncIterator[tuple[aioica.Session, str]]:
    """A session to ICA when credentials are set, else to a fake ICA on a loopback port."""
    if os.environ.get("ICAV2_X_API_KEY") or os.environ.get("ICAV2_ACCESS_TOKEN"):
        async with aioica.Session.from_env(max_concurrency=32) as ica:
            yield ica, os.environ["ICAV2_PROJECT_ID"]
        return
    from aioica.testing import Dataset, FakeICA, Faults, serve

    fake = FakeICA(Dataset(sessions=500, analyses=3), faults=Faults(latency_ms=5))
    async with serve(fake) as url:
        print(f"(no ICA credentials in the environment: using a fake ICA at {url})")
        async with aioica.Session(
            aioica.ApiKeyAuth(fake.api_key), base_url=url, max_concurrency=32
        ) as ica:
            yield ica, "demo-project"


async def main(out: TextIO) -> int:
    """Write one JSON line per workflow session to ``out``; returns the number of sessions."""
    started = time.perf_counter()
    sessions = analyses = 0
    async with open_ica() as (ica, project_id):
        # raw=True keeps the wire dicts (no model objects): the fastest path to JSON.
        export = ica.export_workflow_sessions(project_id, raw=True)
        async with export:  # leaving early (an error, Ctrl-C) cancels in-flight requests
            async for record in export:
                out.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
                sessions += 1
                analyses += len(record.analyses or ())
        requests = ica.requests_sent
    elapsed = time.perf_counter() - started
    print(
        f"wrote {sessions} sessions ({analyses} analyses) to {out.name} in {elapsed:.1f} s "
        f"with {requests} requests"
    )
    return sessions


if __name__ == "__main__":
    with open(sys.argv[1] if len(sys.argv) > 1 else "export.jsonl", "w", encoding="utf-8") as f:
        anyio.run(main, f)
