"""Moving a fake dataset forward in time, so that a mirror can sync, advance and sync again.

One step (a *generation*) is deterministic from the dataset's seed and the generation number:
about half of the sessions that are not terminal move on (most to a terminal state, the rest to
another running state) and gain an analysis; a few new sessions appear at the end of the
listing; a few old ones disappear (kept aside, :meth:`Dataset.restore_session` brings one back).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._dataset import Dataset
    from ._records import Project, SessionRecord

__all__ = ["TERMINAL", "Advance", "advance"]

#: Workflow session states that never change again.
TERMINAL = frozenset({"SUCCEEDED", "FAILED_FINAL", "ABORTED"})
_NEXT_TERMINAL = ("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED_FINAL", "ABORTED")
_NEXT_RUNNING = ("IN_PROGRESS", "GENERATING_OUTPUTS", "AWAITING_INPUT")
_STEP_MS = 3_600_000  # a generation is about an hour of the project's life


@attrs.frozen
class Advance:
    """What one :meth:`Dataset.advance` step changed, per project (session ids)."""

    generation: int
    progressed: dict[str, tuple[str, ...]]
    added: dict[str, tuple[str, ...]]
    removed: dict[str, tuple[str, ...]]


def advance(ds: Dataset, *, new: float = 0.05, remove: float = 0.02) -> Advance:
    """Move every project of ``ds`` one generation forward (see the module docstring).

    ``new`` and ``remove`` are shares of the current session count (at least one each when the
    project has sessions).
    """
    ds.generation += 1
    gen = ds.generation
    progressed: dict[str, tuple[str, ...]] = {}
    added: dict[str, tuple[str, ...]] = {}
    removed: dict[str, tuple[str, ...]] = {}
    for p in ds._projects.values():
        rows = ds._rows(p)
        rng = random.Random(f"advance/{ds.seed}/{p.name}/{gen}")
        moved = [s for s in rows if s.status not in TERMINAL and rng.random() < 0.5]
        for s in moved:
            _progress(ds, s, rng)
        progressed[p.name] = tuple(s.id for s in moved)
        gone = _remove(ds, p, rng, remove)
        removed[p.name] = tuple(s.id for s in gone)
        added[p.name] = tuple(s.id for s in _add(ds, p, rng, new))
    return Advance(gen, progressed, added, removed)


def _forget(ds: Dataset, s: SessionRecord) -> None:
    """Drop the cached JSON of ``s`` and of its analyses (they embed the session)."""
    for a in ds._analyses.pop(s.id, ()):
        ds._json.pop((a.id, "wsa"), None)
    for kind in ("v3", "v4"):
        ds._json.pop((s.id, kind), None)


def _progress(ds: Dataset, s: SessionRecord, rng: random.Random) -> None:
    _forget(ds, s)
    now = s.time_created + ds.generation * _STEP_MS
    if s.start_date is None:
        s.start_date = s.time_created + rng.randrange(1_000, 900_000)
    if rng.random() < 0.75 or s.status == "ABORTING":
        s.status = "ABORTED" if s.status == "ABORTING" else rng.choice(_NEXT_TERMINAL)
        if s.status == "FAILED_FINAL" and rng.random() < 0.5:
            s.status = "SUCCEEDED"
        s.end_date = max(now, s.start_date + 60_000)
        s.summary = (
            f"Workflow session {s.status.lower()} after {(s.end_date - s.start_date) // 1000}s"
        )
    else:
        s.status = rng.choice(_NEXT_RUNNING)
        s.end_date = None
        s.summary = None
    s.analysis_count += 1


def _remove(ds: Dataset, p: Project, rng: random.Random, share: float) -> list[SessionRecord]:
    rows = p.sessions or []
    if not rows:
        return []
    count = min(len(rows), max(1, round(len(rows) * share)))
    gone = rng.sample(rows, count)
    ids = {s.id for s in gone}
    rows[:] = [s for s in rows if s.id not in ids]
    for s in gone:
        del p.by_id[s.id]
        p.removed[s.id] = s
    return gone


def _add(ds: Dataset, p: Project, rng: random.Random, share: float) -> list[SessionRecord]:
    rows = p.sessions if p.sessions is not None else []
    count = max(1, round(max(len(rows), 1) * share))
    start = p.next_index
    fresh = ds._make_sessions(p, rng, range(start, start + count))
    p.next_index += count
    rows.extend(fresh)
    p.by_id.update((s.id, s) for s in fresh)
    return fresh


def restore(ds: Dataset, project: str, session_id: str) -> SessionRecord:
    """Put a session removed by :func:`advance` back into its project's listing."""
    p = ds._project(project)
    s = p.removed.pop(session_id, None)
    if s is None:
        raise KeyError(session_id)
    rows = ds._rows(p)
    at = next((i for i, r in enumerate(rows) if r.index > s.index), len(rows))
    rows.insert(at, s)
    p.by_id[s.id] = s
    return s
