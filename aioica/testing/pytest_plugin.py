"""pytest fixtures for code that talks to ICA: ``ica_fake`` and ``ica_fake_url``.

Registered through the ``pytest11`` entry point. Imports of the fake happen inside the fixtures
so that installing aioica without the ``fake`` extra never breaks pytest start-up. The fixtures
are synchronous, so they work under pytest-asyncio and anyio's plugin alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._app import FakeICA

__all__ = ["ica_fake", "ica_fake_url"]


@pytest.fixture
def ica_fake() -> FakeICA:
    """A fresh fake ICA: project ``demo-project``, 25 sessions, about 2 analyses each.

    ``ica_fake.http_client()`` gives an in-process ``httpx.AsyncClient``; ``ica_fake.api_key``,
    ``.base_url``, ``.dataset``, ``.faults`` and ``.counters`` are there for assertions.
    """
    from aioica.testing import Dataset, FakeICA

    return FakeICA(Dataset(seed=0, projects=["demo-project"], sessions=25, analyses=2))


@pytest.fixture
def ica_fake_url(ica_fake: FakeICA) -> Iterator[str]:
    """``ica_fake`` served on loopback TCP (background thread); the base URL."""
    from aioica.testing import serve_in_thread

    with serve_in_thread(ica_fake) as url:
        yield url
