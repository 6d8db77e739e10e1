"""List the failed workflow sessions of a project, streaming them as they arrive.

    python examples/list_failed_sessions.py

With ICAV2_X_API_KEY (or ICAV2_ACCESS_TOKEN) and ICAV2_PROJECT_ID set, this talks to ICA;
without credentials it starts the embedded fake ICA (``pip install 'aioica[fake]'``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import anyio

import aioica


@contextlib.asynccontextmanager
async def open_ica() -> AsyncIterator[tuple[aioica.Session, str]]:
    """A session to ICA when credentials are set, else to a fake ICA on a loopback port."""
    if os.environ.get("ICAV2_X_API_KEY") or os.environ.get("ICAV2_ACCESS_TOKEN"):
        async with aioica.Session.from_env() as ica:
            yield ica, os.environ["ICAV2_PROJECT_ID"]
        return
    from aioica.testing import Dataset, FakeICA, serve

    fake = FakeICA(Dataset(sessions=300))
    async with serve(fake) as url:
        print(f"(no ICA credentials in the environment: using a fake ICA at {url})")
        async with aioica.Session(aioica.ApiKeyAuth(fake.api_key), base_url=url) as ica:
            yield ica, "demo-project"


async def main() -> None:
    query = aioica.AnalysisQueryParameters(
        status=[aioica.StatusV4.FAILED, aioica.StatusV4.FAILED_FINAL]
    )
    count = 0
    async with open_ica() as (ica, project_id):
        # `async for` walks every cursor page; the next page is fetched while this one prints.
        async for ws in ica.search_workflow_sessions(project_id, analysis_query_parameters=query):
            started = f"{ws.start_date:%Y-%m-%d %H:%M}" if ws.start_date else "-"
            print(f"{ws.id}  {ws.status:<13} {started}  {ws.user_reference}")
            count += 1
    print(f"{count} failed workflow sessions")


if __name__ == "__main__":
    anyio.run(main)
