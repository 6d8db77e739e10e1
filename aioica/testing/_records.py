"""The records a fake dataset is made of, and what building and rendering them share."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any

import attrs

from ..models._status import V3_TO_V4, V4_TO_V3, StatusV4

__all__ = [
    "V3_TO_V4",
    "V4_STATUSES",
    "V4_TO_V3",
    "BASE_MS",
    "WORKFLOWS",
    "AnalysisRecord",
    "Project",
    "SessionRecord",
    "dumps",
    "iso",
    "stable_uuid",
]

#: V4 (workflow sessions via search, analyses) status vocabulary, in the spec's order.
V4_STATUSES: tuple[str, ...] = tuple(s.value for s in StatusV4)

WORKFLOWS = (
    (
        "ica_workflow_germline",
        "DRAGEN Germline",
        ("DRAGEN_Germline_4-2-4", "DRAGEN_Germline_4-3-6"),
    ),
    ("ica_workflow_somatic", "DRAGEN Somatic", ("DRAGEN_Somatic_4-2-4",)),
    ("ica_workflow_bclconvert", "BCL Convert", ("BclConvert_4-2-7", "BclConvert_4-3-6")),
    ("ica_workflow_tso500", "TSO 500 ctDNA", ("TSO500_ctDNA_2-5-2", "DRAGEN_TSO500_2-6-0")),
)
BASE_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z


def dumps(obj: Any) -> str:
    """Compact JSON, as ICA sends it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def iso(ms: int) -> str:
    """Epoch milliseconds as an ICA-style UTC ``date-time`` (``2024-03-05T12:00:01.123Z``)."""
    dt = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def stable_uuid(*parts: object) -> str:
    """A version-4-shaped uuid derived from ``parts`` (the same on every run)."""
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
        return WORKFLOWS[self.workflow][0]


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


class Project:
    """One project of a dataset: its sessions (built lazily) and the ones taken out."""

    def __init__(self, name: str, seed: int, count: int) -> None:
        self.name = name
        self.id = name if _is_uuid(name) else stable_uuid("project", seed, name)
        self.sessions: list[SessionRecord] | None = None
        self.chunks: dict[int, list[SessionRecord]] = {}
        self.by_id: dict[str, SessionRecord] = {}
        self.removed: dict[str, SessionRecord] = {}  # taken out by advance()
        self.next_index = count
