"""The seam between the Session and what is built on it (iterators, export, mirror)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import aioica
from aioica._engine import Engine, engine_of
from aioica.testing import Dataset, FakeICA

PACKAGE = Path(aioica.__file__).parent
LOWER = ["_background.py", "_paging.py", "_export.py", "_engine.py", "_operations.py"]
LOWER += [f"_mirror/{p.name}" for p in (PACKAGE / "_mirror").glob("*.py")]


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.lstrip("."))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("module", LOWER)
def test_lower_layers_never_import_the_session(module: str) -> None:
    # Not even under TYPE_CHECKING: they receive an Engine, not the Session.
    imported = _imported_modules(PACKAGE / module)
    assert not {m for m in imported if m.split(".")[-1] == "_session"}, imported


def test_no_private_session_calls_below_the_session() -> None:
    for module in LOWER:
        text = (PACKAGE / module).read_text()
        for private in ("session._call", "session._paged", "session._start_producer"):
            assert private not in text, (module, private)


@pytest.mark.anyio
async def test_export_runs_on_the_engine_alone() -> None:
    fake = FakeICA(Dataset(seed=5, sessions=4, analyses=1))
    pid = fake.dataset.project_ids[0]
    async with fake.session() as ica:
        engine = engine_of(ica)
        assert isinstance(engine, Engine) and engine_of(engine) is engine
        assert engine.max_concurrency == ica.max_concurrency
        before = engine.requests_sent
        export = aioica.Export(
            engine,
            pid,
            analysis_query_parameters=None,
            include=("inputs", "configurations", "analyses"),
            concurrency=2,
            ordered=True,
            page_size=None,
            retry=None,
            raw=True,
        )
        records = [r async for r in export]
        assert [r.workflow_session["id"] for r in records] == fake.dataset.session_ids(pid)
        assert all(r.inputs is not None and r.configurations is not None for r in records)
        # One listing page, then inputs, configurations and analyses per session.
        assert engine.requests_sent - before == 1 + 3 * len(records)


@pytest.mark.anyio
async def test_session_lifetime_is_an_explicit_state() -> None:
    fake = FakeICA(Dataset(seed=5, sessions=1, analyses=0))
    ica = fake.session()
    assert ica._state.value == "new" and repr(ica).endswith(" new>")
    async with ica:
        assert ica._state.value == "open" and repr(ica).endswith(" open>")
    assert ica._state.value == "closed" and repr(ica).endswith(" closed>")
    await ica.aclose()  # again: a no-op
    with pytest.raises(aioica.SessionClosedError):
        await ica.__aenter__()
