"""A local SQLite mirror of a project's workflow sessions, kept current incrementally.

``_store`` owns the schema and every SQL statement, ``_writer`` keeps SQLite off the event
loop, ``_sync`` runs one sync on the export engine, ``_report`` is what a run returns.
"""

from __future__ import annotations

from ._report import MirrorError, SyncFailure, SyncReport
from ._store import TERMINAL
from ._sync import must_fetch, sync_workflow_sessions

__all__ = [
    "TERMINAL",
    "MirrorError",
    "SyncFailure",
    "SyncReport",
    "must_fetch",
    "sync_workflow_sessions",
]
