"""Test your own ICA code against the fake ICA that ships with aioica.

Copy this file into your test suite. Installing ``aioica[fake]`` registers a pytest plugin with
two fixtures:

* ``ica_fake``: a fresh :class:`aioica.testing.FakeICA` per test (project ``demo-project``, 25
  workflow sessions); ``ica_fake.session()`` is an :class:`aioica.Session` wired to it in
  process (no sockets), ``.dataset`` holds the truth to assert against, ``.faults`` makes it
  misbehave and ``.counters`` tells what it saw.
* ``ica_fake_url``: the same fake served on a loopback TCP port (the real HTTP stack).

Run it with ``pytest examples/test_with_fake.py`` (needs ``anyio``'s pytest plugin, which
comes with anyio, or pytest-asyncio if you prefer it).
"""

from __future__ import annotations

import anyio
import pytest

import aioica
from aioica.testing import FakeICA

# -- the code under test (yours would live in your package) ---------------------------------


async def failed_references(ica: aioica.Session, project_id: str) -> list[str]:
    """User references of the failed workflow sessions, sorted."""
    query = aioica.AnalysisQueryParameters(status=["FAILED", "FAILED_FINAL"])
    refs = [
        ws.user_reference or ""
        async for ws in ica.search_workflow_sessions(project_id, analysis_query_parameters=query)
    ]
    return sorted(refs)


async def count_analyses(ica: aioica.Session, project_id: str) -> int:
    """How many analyses the workflow sessions of a project orchestrated."""
    total = 0
    async for record in ica.export_workflow_sessions(project_id, include=["analyses"]):
        total += len(record.analyses or [])
    return total


# -- the tests ------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # or parametrise over "asyncio" and "trio"


@pytest.mark.anyio
async def test_failed_references(ica_fake: FakeICA) -> None:
    expected = sorted(
        s.user_reference
        for s in ica_fake.dataset.sessions("demo-project")
        if s.status in ("FAILED", "FAILED_FINAL")
    )
    async with ica_fake.session() as ica:
        assert await failed_references(ica, "demo-project") == expected


@pytest.mark.anyio
async def test_count_analyses(ica_fake: FakeICA) -> None:
    expected = sum(
        len(ica_fake.dataset.analyses("demo-project", sid))
        for sid in ica_fake.dataset.session_ids("demo-project")
    )
    async with ica_fake.session() as ica:
        assert await count_analyses(ica, "demo-project") == expected


@pytest.mark.anyio
async def test_survives_a_flaky_server(ica_fake: FakeICA) -> None:
    ica_fake.faults.push(503, 502, 500)  # the next three requests fail, then all is well
    policy = aioica.RetryPolicy(backoff_base=0.01)
    async with ica_fake.session(retry=policy) as ica:
        assert await failed_references(ica, "demo-project")
    assert ica_fake.counters.faults["503"] == 1


@pytest.mark.anyio
async def test_unknown_project_is_not_found(ica_fake: FakeICA) -> None:
    async with ica_fake.session() as ica:
        with pytest.raises(aioica.NotFoundError):
            await failed_references(ica, "no-such-project")


def test_over_tcp(ica_fake: FakeICA, ica_fake_url: str) -> None:
    """The same code through the real HTTP stack, from a synchronous test."""

    async def run() -> list[str]:
        async with aioica.Session(
            aioica.ApiKeyAuth(ica_fake.api_key), base_url=ica_fake_url
        ) as ica:
            return await failed_references(ica, "demo-project")

    refs = anyio.run(run)
    assert refs == sorted(refs)
    assert ica_fake.counters.connections_seen >= 1
