"""Deterministic, lazily built ICA data: projects, workflow sessions, analyses, inputs.

Everything derives from ``Dataset.seed``: the same seed gives the same ids, references, statuses
and timestamps on every run. Session rows are built per project on first use (a few microseconds
each, so 200,000 sessions take about a second); analyses, inputs, configurations and every JSON
piece are built the first time a request needs them and then cached.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, overload

import attrs

from ..models._status import V3_TO_V4, V4_TO_V3, StatusV4
from ._advance import Advance

__all__ = [
    "V3_TO_V4",
    "V4_STATUSES",
    "V4_TO_V3",
    "AnalysisRecord",
    "Dataset",
    "SessionRecord",
]

#: V4 (workflow sessions via search, analyses) status vocabulary, in the spec's order.
V4_STATUSES: tuple[str, ...] = tuple(s.value for s in StatusV4)

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
_WORKFLOWS = (
    (
        "ica_workflow_germline",
        "DRAGEN Germline",
        ("DRAGEN_Germline_4-2-4", "DRAGEN_Germline_4-3-6"),
    ),
    ("ica_workflow_somatic", "DRAGEN Somatic", ("DRAGEN_Somatic_4-2-4",)),
    ("ica_workflow_bclconvert", "BCL Convert", ("BclConvert_4-2-7", "BclConvert_4-3-6")),
    ("ica_workflow_tso500", "TSO 500 ctDNA", ("TSO500_ctDNA_2-5-2", "DRAGEN_TSO500_2-6-0")),
)
_BASE_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
_CREATE_STEP_MS = 600_000  # one session every ten minutes, on average
_CHUNK = 1024  # sessions built together (a multiple of 4: a sequencing run never straddles two)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def iso(ms: int) -> str:
    """Epoch milliseconds as an ICA-style UTC ``date-time`` (``2024-03-05T12:00:01.123Z``)."""
    dt = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stable_uuid(*parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


@attrs.define(slots=True, eq=False)
class SessionRecord:
    """One workflow session, with the fields filters and sorts work on (times in epoch ms)."""

    index: int
    id: str
    project: str
    reference: str
    user_reference: str
    status: str
    workflow: int
    time_created: int
    start_date: int | None
    end_date: int | None
    summary: str | None
    user_tags: tuple[str, ...]
    technical_tags: tuple[str, ...]
    reference_tags: tuple[str, ...]
    analysis_count: int
    run_id: str

    @property
    def status_v3(self) -> str:
        """The status in the V3 vocabulary (``INPROGRESS``, ``FAILEDFINAL``, ...)."""
        return V4_TO_V3[self.status]

    @property
    def workflow_code(self) -> str:
        """Code of the session's workflow (what ``sort=workflow`` and ``pipeline`` order by)."""
        return _WORKFLOWS[self.workflow][0]


@attrs.define(slots=True, eq=False)
class AnalysisRecord:
    """One analysis orchestrated by a workflow session (times in epoch ms)."""

    index: int
    id: str
    session: SessionRecord
    reference: str
    user_reference: str
    pipeline: str
    status: str
    time_created: int
    time_modified: int
    start_date: int | None
    end_date: int | None
    summary: str | None
    user_tags: tuple[str, ...]
    technical_tags: tuple[str, ...]
    reference_tags: tuple[str, ...]
    priority: str


class _Project:
    def __init__(self, name: str, seed: int, count: int) -> None:
        self.name = name
        self.id = name if _is_uuid(name) else _stable_uuid("project", seed, name)
        self.sessions: list[SessionRecord] | None = None
        self.chunks: dict[int, list[SessionRecord]] = {}
        self.by_id: dict[str, SessionRecord] = {}
        self.removed: dict[str, SessionRecord] = {}  # taken out by advance()
        self.next_index = count


class Dataset:
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
        self._projects = {name: _Project(name, seed, sessions) for name in names}
        self._aliases = {p.id: p for p in self._projects.values()}
        self._tenant_id = _stable_uuid("tenant", seed)
        self._owner_id = _stable_uuid("owner", seed)
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

    # -- JSON pieces -------------------------------------------------------------------------

    def session_json(self, s: SessionRecord, version: int) -> str:
        """``WorkflowSessionV3`` (``version=3``) or ``WorkflowSessionV4`` JSON of ``s``."""
        key = (s.id, "v3" if version == 3 else "v4")
        cached = self._json.get(key)
        if cached is None:
            cached = self._session_v3(s) if version == 3 else self._session_v4(s)
            self._cache(key, cached)
        return cached

    def analysis_json(self, a: AnalysisRecord) -> str:
        """``WorkflowSessionAnalysisV4`` JSON of ``a``."""
        key = (a.id, "wsa")
        cached = self._json.get(key)
        if cached is None:
            cached = self._analysis(a)
            self._cache(key, cached)
        return cached

    def inputs_json(self, s: SessionRecord) -> str:
        """The whole ``WorkflowSessionInputList`` body of ``s``."""
        key = (s.id, "inputs")
        cached = self._json.get(key)
        if cached is None:
            cached = self._inputs(s)
            self._cache(key, cached)
        return cached

    def configurations_json(self, s: SessionRecord) -> str:
        """The whole ``WorkflowSessionConfigurationList`` body of ``s``."""
        key = (s.id, "configurations")
        cached = self._json.get(key)
        if cached is None:
            cached = self._configurations(s)
            self._cache(key, cached)
        return cached

    # -- building ----------------------------------------------------------------------------

    def _cache(self, key: tuple[str, str], value: str) -> None:
        if len(self._json) < self.cache_limit:
            self._json[key] = value

    def _project_or_none(self, project: str) -> _Project | None:
        return self._projects.get(project) or self._aliases.get(project)

    def _project(self, project: str) -> _Project:
        p = self._project_or_none(project)
        if p is None:
            raise KeyError(project)
        return p

    def _rows(self, p: _Project) -> list[SessionRecord]:
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

    def _chunk(self, p: _Project, chunk: int) -> list[SessionRecord]:
        if p.sessions is not None:
            return p.sessions[chunk * _CHUNK : (chunk + 1) * _CHUNK]
        rows = p.chunks.get(chunk)
        if rows is None:
            rows = p.chunks[chunk] = self._build_sessions(p, chunk)
        return rows

    def _build_sessions(self, p: _Project, chunk: int) -> list[SessionRecord]:
        # Seeded per chunk so that a page in the middle of 200,000 sessions builds only its chunk.
        rng = random.Random(f"sessions/{self.seed}/{p.name}/{chunk}")
        stop = min((chunk + 1) * _CHUNK, self.sessions_per_project)
        return self._make_sessions(p, rng, range(chunk * _CHUNK, stop))

    def _make_sessions(
        self, p: _Project, rng: random.Random, indices: range
    ) -> list[SessionRecord]:
        rand, randrange, getrandbits = rng.random, rng.randrange, rng.getrandbits
        k2 = 2 * self.analyses_per_session
        n_wf = len(_WORKFLOWS)
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
            created = _BASE_MS + i * _CREATE_STEP_MS + randrange(_CREATE_STEP_MS)
            start = end = None
            if status not in _NOT_STARTED:
                start = created + randrange(1_000, 900_000)
                if status not in _RUNNING:
                    end = start + randrange(60_000, 36_000_000)
            user_tags = tuple(t for t in _USER_TAGS if rand() < 0.2)
            tech = (f"run:{run_id}", "auto-launch") if rand() < 0.7 else (f"run:{run_id}",)
            user_ref = f"{run_id}-{_WORKFLOWS[wf][1].replace(' ', '_')}-{i}"
            summary = None
            if start is not None and end is not None:
                summary = f"Workflow session {status.lower()} after {(end - start) // 1000}s"
            out.append(
                SessionRecord(
                    index=i,
                    id=sid,
                    project=p.name,
                    reference=f"{user_ref}-{_WORKFLOWS[wf][0]}-{sid[:8]}",
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
        pipelines = _WORKFLOWS[s.workflow][2]
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

    def _build_catalogue(self) -> None:
        seed = self.seed
        created = iso(_BASE_MS - 86_400_000 * 30)
        storage_id = _stable_uuid("storage", seed)
        storage_v4 = {"id": storage_id, "name": "Small", "description": "1.2 TB"}
        storage_v3 = {
            "id": storage_id,
            "timeCreated": created,
            "timeModified": created,
            "ownerId": self._owner_id,
            "tenantId": self._tenant_id,
            "tenantName": "fake-tenant",
            "name": "Small",
            "description": "1.2 TB",
        }
        for code, name, pipelines in _WORKFLOWS:
            wid = _stable_uuid("workflow", seed, code)
            common: dict[str, Any] = {
                "id": wid,
                "code": code,
                "urn": f"urn:ilmn:ica:workflow:{wid}#{code}",
                "description": f"{name} workflow (auto-launched from BaseSpace)",
                "languageVersion": {
                    "id": _stable_uuid("lang", seed),
                    "name": "22.10.6",
                    "language": "NEXTFLOW",
                },
                "workflowTags": {"technicalTags": ["basespace", code]},
            }
            self._workflows_v3.append(_dumps({**common, "analysisStorage": storage_v3}))
            self._workflows_v4.append(_dumps({**common, "analysisStorage": storage_v4}))
            for pcode in pipelines:
                pid = _stable_uuid("pipeline", seed, pcode)
                self._pipelines[pcode] = _dumps(
                    {
                        "id": pid,
                        "urn": f"urn:ilmn:ica:pipeline:{pid}#{pcode}",
                        "timeCreated": created,
                        "timeModified": created,
                        "owner": {"id": self._owner_id},
                        "tenant": {"id": self._tenant_id, "name": "fake-tenant"},
                        "code": pcode,
                        "description": f"{name} pipeline {pcode}",
                        "status": "RELEASED",
                        "statusAsString": "Released",
                        "language": "NEXTFLOW",
                        "pipelineTags": {"technicalTags": [code]},
                        "analysisStorage": storage_v4,
                        "proprietary": False,
                        "inputFormType": "JSON",
                    }
                )

    def _project_json(self, name: str) -> str:
        key = (name, "project")
        cached = self._json.get(key)
        if cached is not None:
            return cached
        p = self._project(name)
        seed = self.seed
        created = iso(_BASE_MS - 86_400_000 * 60)
        base = {
            "timeCreated": created,
            "timeModified": created,
            "ownerId": self._owner_id,
            "tenantId": self._tenant_id,
        }
        region = {
            "id": _stable_uuid("region", seed),
            **base,
            "code": "US",
            "country": {
                "id": _stable_uuid("country", seed),
                **base,
                "code": "US",
                "name": "United States",
                "region": "us-east-1",
            },
            "cityName": "Virginia",
        }
        text = _dumps(
            {
                "id": p.id,
                **base,
                "tenantName": "fake-tenant",
                "urn": f"urn:ilmn:ica:project:{p.id}#{p.name}",
                "name": p.name[:255] or "project",
                "active": True,
                "baseEnabled": False,
                "shortDescription": f"Fake ICA project {p.name}"[:4000],
                "region": region,
                "billingMode": "PROJECT",
                "dataSharingEnabled": False,
                "tags": {"technicalTags": [], "userTags": ["fake"]},
                "analysisPriority": "MEDIUM",
            }
        )
        self._json[key] = text
        return text

    def _session_common(self, s: SessionRecord) -> dict[str, Any]:
        return {
            "id": s.id,
            "timeCreated": iso(s.time_created),
            "userReference": s.user_reference,
            "startDate": None if s.start_date is None else iso(s.start_date),
            "endDate": None if s.end_date is None else iso(s.end_date),
            "summary": s.summary,
            "tags": {"technicalTags": list(s.technical_tags), "userTags": list(s.user_tags)},
        }

    def _session_v3(self, s: SessionRecord) -> str:
        d = self._session_common(s)
        d.update(
            ownerId=self._owner_id,
            tenantId=self._tenant_id,
            tenantName="fake-tenant",
            status=s.status_v3,
        )
        return _dumps(d)[:-1] + ',"workflow":' + self._workflows_v3[s.workflow] + "}"

    def _session_v4(self, s: SessionRecord) -> str:
        d = self._session_common(s)
        d.update(
            owner={"id": self._owner_id},
            tenant={"id": self._tenant_id, "name": "fake-tenant"},
            status=s.status,
            application={"id": _stable_uuid("app", self.seed), "name": "BaseSpace Sequence Hub"},
        )
        return _dumps(d)[:-1] + ',"workflow":' + self._workflows_v4[s.workflow] + "}"

    def _analysis(self, a: AnalysisRecord) -> str:
        d = {
            "id": a.id,
            "timeCreated": iso(a.time_created),
            "timeModified": iso(a.time_modified),
            "owner": {"id": self._owner_id},
            "tenant": {"id": self._tenant_id, "name": "fake-tenant"},
            "reference": a.reference,
            "userReference": a.user_reference,
            "status": a.status,
            "startDate": None if a.start_date is None else iso(a.start_date),
            "endDate": None if a.end_date is None else iso(a.end_date),
            "summary": a.summary,
            "analysisStorage": {"id": _stable_uuid("storage", self.seed), "name": "Small"},
            "analysisPriority": a.priority,
            "tags": {
                "technicalTags": list(a.technical_tags),
                "userTags": list(a.user_tags),
                "referenceTags": list(a.reference_tags),
            },
        }
        analysis = (
            _dumps(d)[:-1]
            + ',"pipeline":'
            + self._pipelines[a.pipeline]
            + ',"workflowSession":'
            + self.session_json(a.session, 4)
            + "}"
        )
        return (
            '{"analysis":'
            + analysis
            + ',"project":'
            + self._project_json(a.session.project)
            + ',"workflowSessionId":"'
            + a.session.id
            + '"}'
        )

    def _inputs(self, s: SessionRecord) -> str:
        rng = random.Random(f"inputs/{self.seed}/{s.id}")
        items: list[dict[str, Any]] = []
        codes = ("fastqs", "reference", "sample_sheet", "panel", "annotations", "known_sites")
        for k in range(self.inputs_per_session):
            code = codes[k] if k < len(codes) else f"input_{k}"
            item: dict[str, Any] = {"code": code}
            if k % 3 == 2:
                item["analysisData"] = None
                item["externalData"] = [
                    {
                        "url": f"s3://fake-bucket/{s.run_id}/{code}/",
                        "type": "s3",
                        "mountPath": f"{code}/",
                    }
                ]
            else:
                data = []
                for n in range(1 + rng.randrange(3)):
                    folder = code == "fastqs" and n == 0
                    name = f"{s.run_id}_{code}_{n}" + ("" if folder else ".fastq.gz")
                    fmt = None
                    if not folder:
                        fmt = {
                            "id": _stable_uuid("format", self.seed, "FASTQ"),
                            "timeCreated": iso(_BASE_MS),
                            "timeModified": iso(_BASE_MS),
                            "ownerId": self._owner_id,
                            "tenantId": self._tenant_id,
                            "code": "FASTQ",
                            "description": "FASTQ sequence reads",
                            "mimeType": "application/gzip",
                        }
                    data.append(
                        {
                            "dataId": ("fol." if folder else "fil.")
                            + f"{rng.getrandbits(128):032x}",
                            "format": fmt,
                            "name": name,
                            "dataType": "FOLDER" if folder else "FILE",
                            "mountPath": f"{code}/{name}",
                        }
                    )
                item["analysisData"] = data
                item["externalData"] = None if k % 2 else []
            items.append(item)
        return _dumps({"items": items})

    def _configurations(self, s: SessionRecord) -> str:
        rng = random.Random(f"configurations/{self.seed}/{s.id}")
        base = [
            ("sample_ids", True, [f"S{n}" for n in range(1, 2 + rng.randrange(4))]),
            ("reference_genome", False, [s.reference_tags[0]]),
            ("enable_cnv", False, [rng.choice(["true", "false"])]),
            ("output_format", False, ["CRAM"]),
            ("qc_thresholds", True, ["coverage>=30", "mapq>=20"]),
        ]
        items = [
            {"name": n, "multiValue": mv, "values": v}
            for n, mv, v in base[: self.configurations_per_session]
        ]
        for extra in range(len(base), self.configurations_per_session):
            items.append({"name": f"option_{extra}", "multiValue": False, "values": [str(extra)]})
        return _dumps({"items": items})


class _LazySessions(Sequence[SessionRecord]):
    """The sessions of a project, built chunk by chunk as slices ask for them."""

    def __init__(self, dataset: Dataset, project: _Project) -> None:
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
