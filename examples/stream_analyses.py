"""Stream the orchestrated analyses of many workflow sessions concurrently.

One task per workflow session walks its analyses (cursor pages); every result goes into one
stream that the main task prints as it arrives. The Session's ``max_concurrency`` bounds the
requests in flight however many tasks there are.

    python examples/stream_analyses.py

With ICAV2_X_API_KEY (or ICAV2_ACCESS_TOKEN) and ICAV2_PROJECT_ID set, this talks to ICA;
without credentials it starts the embedded fake ICA (``pip install 'aioica[fake]'``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import anyio
from anyio.abc import ObjectSendStream

import aioica

SESSIONS = 40


@contextlib.asynccontextmanager
async def open_ica() -> AsyncIterator[tuple[aioica.Session, str]]:
    """A session to ICA when credentials are set, else to a fake ICA on a loopback port."""
    if os.environ.get("ICAV2_X_API_KEY") or os.environ.get("ICAV2_ACCESS_TOKEN"):
        async with aioica.Session.from_env(max_concurrency=16) as ica:
            yield ica, os.environ["ICAV2_PROJECT_ID"]
        return
    from aioica.testing import Dataset, FakeICA, Faults, serve

    fake = FakeICA(Dataset(sessions=SESSIONS, analyses=4), faults=Faults(latency_ms=20))
    async with serve(fake) as url:
        print(f"(no ICA credentials in the environment: using a fake ICA at {url})")
        async with aioica.Session(
            aioica.ApiKeyAuth(fake.api_key), base_url=url, max_concurrency=16
        ) as ica:
            yield ica, "demo-project"


async def analyses_of(
    ica: aioica.Session,
    project_id: str,
    session_id: str,
    send: ObjectSendStream[tuple[str, aioica.WorkflowSessionAnalysisV4]],
) -> None:
    async with send:
        async for item in ica.search_orchestrated_analyses(project_id, session_id):
            await send.send((session_id, item))


async def main() -> None:
    async with open_ica() as (ica, project_id):
        sessions = await ica.search_workflow_sessions(project_id).collect()
        sessions = sessions[:SESSIONS]
        send, receive = anyio.create_memory_object_stream[
            tuple[str, aioica.WorkflowSessionAnalysisV4]
        ](100)
        count = 0
        async with anyio.create_task_group() as tg, receive:
            async with send:
                for ws in sessions:
                    tg.start_soon(analyses_of, ica, project_id, str(ws.id), send.clone())
            # The loop ends when every task has closed its clone of the send stream.
            async for session_id, item in receive:
                analysis = item.analysis
                if analysis is not None:
                    print(f"{session_id[:8]}  {analysis.status:<12} {analysis.user_reference}")
                count += 1
        print(
            f"{count} analyses from {len(sessions)} workflow sessions, {ica.requests_sent} requests"
        )


if __name__ == "__main__":
    anyio.run(main)
