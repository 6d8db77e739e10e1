"""Errors and retries: what aioica retries for you, and what reaches your code.

* Transient failures (connection errors, 408, 429, 500, 502, 503, 504) are retried with
  exponential backoff and jitter; a 429's Retry-After pauses the whole session.
* Everything else is raised as a typed error deriving from ``aioica.ICAError``:
  ``NotFoundError`` (404), ``AuthenticationError`` (401), ``ServerError`` (5xx, once retries are
  spent), ``APIConnectionError`` (the network), ``InvalidParameterError`` (before any request).

    python examples/errors_and_retries.py

Without ICA credentials in the environment this runs against the embedded fake ICA, whose
fault knobs make the server flaky on purpose (``pip install 'aioica[fake]'``). With credentials
it shows the error handling against ICA (no faults can be injected there).
"""

from __future__ import annotations

import os
import socket

import anyio

import aioica

FAST_RETRY = aioica.RetryPolicy(max_attempts=6, backoff_base=0.05, backoff_cap=0.5)


async def error_handling(ica: aioica.Session, project_id: str) -> None:
    """Typed errors for what retries cannot fix."""
    try:
        await ica.get_workflow_session_inputs(project_id, "00000000-0000-4000-8000-000000000000")
    except aioica.NotFoundError as exc:
        print(f"NotFoundError: HTTP {exc.status_code}, request id {exc.request_id}")
    try:
        await ica.get_workflow_session_inputs(project_id, "..")
    except aioica.InvalidParameterError as exc:
        print(f"InvalidParameterError (no request sent): {exc}")
    async with aioica.Session(aioica.ApiKeyAuth("not-a-valid-key"), base_url=ica.base_url) as bad:
        try:
            await bad.search_workflow_sessions(project_id)
        except aioica.AuthenticationError as exc:
            print(f"AuthenticationError: HTTP {exc.status_code} (the key is never in messages)")


async def unreachable() -> None:
    """Nothing listening: retried, then APIConnectionError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: connections are refused
    policy = aioica.RetryPolicy(max_attempts=3, backoff_base=0.05)
    url = f"http://127.0.0.1:{port}/ica/rest"
    async with aioica.Session(aioica.ApiKeyAuth("k" * 20), base_url=url, retry=policy) as ica:
        try:
            await ica.search_workflow_sessions("demo-project")
        except aioica.APIConnectionError as exc:
            print(f"APIConnectionError after {exc.attempts} attempts")


async def against_fake() -> None:
    from aioica.testing import Dataset, FakeICA, serve

    fake = FakeICA(Dataset(sessions=200))
    async with serve(fake) as url:
        print(f"(no ICA credentials in the environment: using a fake ICA at {url})")
        async with aioica.Session(
            aioica.ApiKeyAuth(fake.api_key), base_url=url, retry=FAST_RETRY
        ) as ica:
            # A flaky server: 15% server errors, 5% rate limiting. Every call still succeeds.
            fake.faults.rate_5xx = 0.15
            fake.faults.rate_429 = 0.05
            fake.faults.retry_after = (0, 0)
            count = 0
            async for ws in ica.search_workflow_sessions("demo-project", page_size=10):
                await ica.get_workflow_session_inputs("demo-project", str(ws.id))
                count += 1
            injected = sum(fake.counters.faults.values())
            print(
                f"read {count} sessions and their inputs despite {injected} injected failures "
                f"({ica.requests_sent} requests)"
            )
            fake.faults.clear()

            # Retries off for one call: the first 503 is raised.
            fake.faults.push(503)
            try:
                await ica.search_workflow_sessions("demo-project", retry=aioica.RetryPolicy.none())
            except aioica.ServerError as exc:
                title = exc.problem.title if exc.problem else None  # ICA's code, e.g. ICA_API_012
                print(f"ServerError without retries: HTTP {exc.status_code} ({title})")

            # Retries spent: the error says how many attempts were made.
            fake.faults.push(502, 502, 502, 502, 502, 502)
            try:
                await ica.search_workflow_sessions("demo-project")
            except aioica.ServerError as exc:
                print(f"ServerError after {exc.attempts} attempts: HTTP {exc.status_code}")

            await error_handling(ica, "demo-project")
    await unreachable()


async def main() -> None:
    if os.environ.get("ICAV2_X_API_KEY") or os.environ.get("ICAV2_ACCESS_TOKEN"):
        async with aioica.Session.from_env() as ica:
            await error_handling(ica, os.environ["ICAV2_PROJECT_ID"])
        return
    await against_fake()


if __name__ == "__main__":
    anyio.run(main)
