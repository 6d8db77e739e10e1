"""Deterministic, lazily built ICA data: projects, workflow sessions, analyses, inputs.

Everything derives from ``Dataset.seed``: the same seed gives the same ids, references, statuses
and timestamps on every run. Session rows are built per project on first use (a few microseconds
each, so 200,000 sessions take about a second); analyses, inputs, configurations and every JSON
piece are built the first time a request needs them and then cached.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from typing import overload

from ._advance import Advance
from ._records import (
    BASE_MS,
    V3_TO_V4,
    V4_STATUSES,
    V4_TO_V3,
    WORKFLOWS,
    AnalysisRecord,
    Project,
    SessionRecord,
    iso,
    stable_uuid,
)
from ._render import Rendering

__all__ = [
    "V3_TO_V4",
    "V4_STATUSES",
    "V4_TO_V3",
    "AnalysisRecord",
    "Dataset",
    "SessionRecord",
    "iso",
]

# Percent weights: most sessions succeeded, a few are in each other state.
_STATUS_WEIGHTS = {
    "SUCCEEDED": 52,
    "FAILED": 8,
    "FAILED_FINAL": 5,
    "IN_PROGRESS": 8,
    "AWAITING_INPUT": 5,
    "QUEUED": 4,
    "REQUESTED": 3,
    "INITIALIZING": 3,
    "PREPARING_INPUTS": 3,
    "GENERATING_OUTPUTS": 2,
    "ABORTING": 1,
    "ABORTED": 6,
}
_STATUS_TABLE = tuple(s for s, w in _STATUS_WEIGHTS.items() for _ in range(w))
_NOT_STARTED = frozenset({"REQUESTED", "QUEUED"})
_RUNNING = frozenset(
    {
        "INITIALIZING",
        "PREPARING_INPUTS",
        "IN_PROGRESS",
        "GENERATING_OUTPUTS",
        "AWAITING_INPUT",
        "ABORTING",
    }
)
_USER_TAGS = ("priority", "research", "clinical", "rerun", "validation")
_REFERENCE_TAGS = ("GRCh38", "hg19", "hg38-alt-masked")
_INSTRUMENTS = ("A01234", "LH00417", "VH00712", "NB551608")
_CREATE_STEP_MS = 600_000  # one session every ten minutes, on average
_CHUNK = 1024  # sessions built together (a multiple of 4: a sequencing run never straddles two)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Dataset(Rendering):
    """Seeded fake ICA data.

    ``projects`` is a list of project ids (any string; a non-uuid id gets a stable uuid for the
    ``Project.id`` field, and both spellings work in URLs) or a count (``"demo-project"``,
    ``"demo-project-2"``, ...). ``sessions`` per project; each session orchestrates between 0 and
    ``2 * analyses`` analyses (``analyses`` on average), has ``inputs`` input parameters and
    ``configurations`` configuration entries. ``generation`` applies that many
    :meth:`advance` steps at once (what ``aioica fake-server --generation N`` serves).
    """

    def __init__(
        self,
        seed: int = 0,
        projects: Sequence[str] | int = ("demo-project",),
        sessions: int = 20,
        analyses: int = 3,
        *,
        inputs: int = 2,
        configurations: int = 3,
        cache_limit: int = 50_000,
        generation: int = 0,
    ) -> None:
        if isinstance(projects, int):
            names = ["demo-project"] + [f"demo-project-{i}" for i in range(2, projects + 1)]
        else:
            names = list(projects)
        if not names or sessions < 0 or analyses < 0 or generation < 0:
            raise ValueError("Dataset needs at least one project and non-negative counts")
        self.seed = seed
        self.sessions_per_project = sessions
        self.analyses_per_session = analyses
        self.inputs_per_session = inputs
        self.configurations_per_session = configurations
        self.cache_limit = cache_limit
        self._projects = {name: Project(name, seed, sessions) for name in names}
        self._aliases = {p.id: p for p in self._projects.values()}
        self._tenant_id = stable_uuid("tenant", seed)
        self._owner_id = stable_uuid("owner", seed)
        self._json: dict[tuple[str, str], str] = {}
        self._analyses: dict[str, list[AnalysisRecord]] = {}
        self._workflows_v3: list[str] = []
        self._workflows_v4: list[str] = []
        self._pipelines: dict[str, str] = {}
        self._build_catalogue()
        #: How many :meth:`advance` steps the data has taken.
        self.generation = 0
        #: Bumped by every change to the data (servers drop cached selections on a change).
        self.version = 0
        for _ in range(generation):
            self.advance()

    # -- moving forward ----------------------------------------------------------------------

    def advance(self, *, new: float = 0.05, remove: float = 0.02) -> Advance:
        """Move the data one generation forward: about half of the sessions that are not
        terminal progress (most to SUCCEEDED, FAILED_FINAL or ABORTED) and gain an analysis,
        ``new`` x sessions appear and ``remove`` x sessions disappear (at least one each).
        Deterministic from the seed; returns the ids that changed."""
        from ._advance import advance

        self.version += 1
        return advance(self, new=new, remove=remove)

    def restore_session(self, project: str, session_id: str) -> SessionRecord:
        """Bring back a session that :meth:`advance` removed (``KeyError`` if it was not)."""
        from ._advance import restore

        self.version += 1
        return restore(self, project, session_id)

    # -- public look-ups ---------------------------------------------------------------------

    @property
    def owner_id(self) -> str:
        """The uuid of the user owning every fake object."""
        return self._owner_id

    @property
    def project_ids(self) -> list[str]:
        """The project ids as given (what goes into URLs)."""
        return list(self._projects)

    def project_uuid(self, project: str) -> str:
        """The ``Project.id`` uuid of ``project`` (equal to it when it already is a uuid)."""
        return self._project(project).id

    def has_project(self, project: str) -> bool:
        """Whether ``project`` (name or uuid) exists."""
        return project in self._projects or project in self._aliases

    def sessions(self, project: str = "demo-project") -> list[SessionRecord]:
        """Every workflow session of ``project``, in the server's default (creation) order."""
        return self._rows(self._project(project))

    def session_ids(self, project: str = "demo-project") -> list[str]:
        """The ids of every workflow session of ``project``."""
        return [s.id for s in self.sessions(project)]

    def session(self, project: str, session_id: str) -> SessionRecord | None:
        """The session ``session_id`` of ``project``, or ``None``."""
        p = self._project_or_none(project)
        if p is None:
            return None
        self._rows(p)
        return p.by_id.get(session_id)

    def analyses(self, project: str, session_id: str) -> list[AnalysisRecord]:
        """The analyses orchestrated by a session (empty for an unknown session)."""
        s = self.session(project, session_id)
        return [] if s is None else self._analyses_of(s)

    def analysis_ids(self, project: str, session_id: str) -> list[str]:
        """The ids of the analyses orchestrated by a session."""
        return [a.id for a in self.analyses(project, session_id)]

    # -- building ----------------------------------------------------------------------------

    def _project_or_none(self, project: str) -> Project | None:
        return self._projects.get(project) or self._aliases.get(project)

    def _project(self, project: str) -> Project:
        p = self._project_or_none(project)
        if p is None:
            raise KeyError(project)
        return p

    def _rows(self, p: Project) -> list[SessionRecord]:
        if p.sessions is None:
            rows: list[SessionRecord] = []
            for chunk in range(-(-self.sessions_per_project // _CHUNK)):
                rows += self._chunk(p, chunk)
            p.sessions = rows
            p.by_id = {s.id: s for s in rows}
            p.chunks.clear()
        return p.sessions

    def session_rows(self, project: str) -> Sequence[SessionRecord]:
        """The sessions of ``project`` as a lazy sequence: slicing builds only what it covers."""
        p = self._project(project)
        return p.sessions if p.sessions is not None else _LazySessions(self, p)

    def _chunk(self, p: Project, chunk: int) -> list[SessionRecord]:
        if p.sessions is not None:
            return p.sessions[chunk * _CHUNK : (chunk + 1) * _CHUNK]
        rows = p.chunks.get(chunk)
        if rows is None:
            rows = p.chunks[chunk] = self._build_sessions(p, chunk)
        return rows

    def _build_sessions(self, p: Project, chunk: int) -> list[SessionRecord]:
        # Seeded per chunk so that a page in the middle of 200,000 sessions builds only its chunk.
        rng = random.Random(f"sessions/{self.seed}/{p.name}/{chunk}")
        stop = min((chunk + 1) * _CHUNK, self.sessions_per_project)
        return self._make_sessions(p, rng, range(chunk * _CHUNK, stop))

    def _make_sessions(self, p: Project, rng: random.Random, indices: range) -> list[SessionRecord]:
        rand, randrange, getrandbits = rng.random, rng.randrange, rng.getrandbits
        k2 = 2 * self.analyses_per_session
        n_wf = len(WORKFLOWS)
        out: list[SessionRecord] = []
        run_id = ""
        for i in indices:
            if i % 4 == 0 or not run_id:
                # Several sessions (one per workflow) come from the same sequencing run.
                run_no = i // 4 + 1
                inst = _INSTRUMENTS[randrange(len(_INSTRUMENTS))]
                flowcell = f"{getrandbits(40):010X}"[:9]
                run_id = f"{230101 + (run_no % 28):06d}_{inst}_{run_no % 10000:04d}_A{flowcell}"
            wf = randrange(n_wf)
            sid = str(uuid.UUID(int=getrandbits(128), version=4))
            status = _STATUS_TABLE[int(rand() * len(_STATUS_TABLE))]
            created = BASE_MS + i * _CREATE_STEP_MS + randrange(_CREATE_STEP_MS)
            start = end = None
            if status not in _NOT_STARTED:
                start = created + randrange(1_000, 900_000)
                if status not in _RUNNING:
                    end = start + randrange(60_000, 36_000_000)
            user_tags = tuple(t for t in _USER_TAGS if rand() < 0.2)
            tech = (f"run:{run_id}", "auto-launch") if rand() < 0.7 else (f"run:{run_id}",)
            user_ref = f"{run_id}-{WORKFLOWS[wf][1].replace(' ', '_')}-{i}"
            summary = None
            if start is not None and end is not None:
                summary = f"Workflow session {status.lower()} after {(end - start) // 1000}s"
            out.append(
                SessionRecord(
                    index=i,
                    id=sid,
                    project=p.name,
                    reference=f"{user_ref}-{WORKFLOWS[wf][0]}-{sid[:8]}",
                    user_reference=user_ref,
                    status=status,
                    workflow=wf,
                    time_created=created,
                    start_date=start,
                    end_date=end,
                    summary=summary,
                    user_tags=user_tags,
                    technical_tags=tech,
                    reference_tags=(_REFERENCE_TAGS[randrange(len(_REFERENCE_TAGS))],),
                    analysis_count=randrange(k2 + 1) if k2 else 0,
                    run_id=run_id,
                )
            )
        return out

    def _analyses_of(self, s: SessionRecord) -> list[AnalysisRecord]:
        found = self._analyses.get(s.id)
        if found is not None:
            return found
        rng = random.Random(f"analyses/{self.seed}/{s.id}")
        pipelines = WORKFLOWS[s.workflow][2]
        out: list[AnalysisRecord] = []
        t = s.start_date if s.start_date is not None else s.time_created
        for j in range(s.analysis_count):
            last = j == s.analysis_count - 1
            # Earlier analyses of a session are done; the last one carries the session's state.
            status = s.status if last else "SUCCEEDED"
            if status in ("AWAITING_INPUT",) and not last:
                status = "SUCCEEDED"
            created = t + rng.randrange(1_000, 60_000)
            start = end = None
            if status not in _NOT_STARTED:
                start = created + rng.randrange(1_000, 300_000)
                if status not in _RUNNING:
                    end = start + rng.randrange(60_000, 7_200_000)
            t = end if end is not None else created
            pipeline = pipelines[rng.randrange(len(pipelines))]
            user_ref = f"{s.user_reference}-{pipeline}-{j}"
            aid = _uuid(rng)
            summary = None if end is None else f"{pipeline} {status.lower()}"
            out.append(
                AnalysisRecord(
                    index=j,
                    id=aid,
                    session=s,
                    reference=f"{user_ref}-{aid[:8]}",
                    user_reference=user_ref,
                    pipeline=pipeline,
                    status=status,
                    time_created=created,
                    time_modified=end or start or created,
                    start_date=start,
                    end_date=end,
                    summary=summary,
                    user_tags=s.user_tags,
                    technical_tags=(*s.technical_tags, f"pipeline:{pipeline}"),
                    reference_tags=s.reference_tags,
                    priority=("LOW", "MEDIUM", "HIGH")[rng.randrange(3)],
                )
            )
        if len(self._analyses) < self.cache_limit:
            self._analyses[s.id] = out
        return out


class _LazySessions(Sequence[SessionRecord]):
    """The sessions of a project, built chunk by chunk as slices ask for them."""

    def __init__(self, dataset: Dataset, project: Project) -> None:
        self._dataset = dataset
        self._project = project

    def __len__(self) -> int:
        return self._dataset.sessions_per_project

    def __iter__(self) -> Iterator[SessionRecord]:
        # A full scan (filters, sorts) builds everything once rather than chunk by chunk.
        return iter(self._dataset._rows(self._project))

    @overload
    def __getitem__(self, index: int) -> SessionRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[SessionRecord]: ...

    def __getitem__(self, index: int | slice) -> SessionRecord | list[SessionRecord]:
        n = len(self)
        if isinstance(index, int):
            if index < 0:
                index += n
            if not 0 <= index < n:
                raise IndexError(index)
            return self._dataset._chunk(self._project, index // _CHUNK)[index % _CHUNK]
        start, stop, step = index.indices(n)
        if step != 1:
            return [self[i] for i in range(start, stop, step)]
        out: list[SessionRecord] = []
        for chunk in range(start // _CHUNK, -(-stop // _CHUNK)):
            rows = self._dataset._chunk(self._project, chunk)
            base = chunk * _CHUNK
            out += rows[max(start - base, 0) : max(stop - base, 0)]
        return out
