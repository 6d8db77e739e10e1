"""What a sync returns, and its error type."""

from __future__ import annotations

import attrs

from .._errors import ICAError

__all__ = ["MirrorError", "SyncFailure", "SyncReport"]


class MirrorError(ICAError):
    """The mirror database cannot be used: not a SQLite file, mirrors another project, locked
    too long, disk full. The message names the file."""


@attrs.frozen
class SyncFailure:
    """A session whose details could not be fetched (after retries); the next sync tries it
    again. Its listing row is stored with ``sync_error`` set. A listing item that is not a
    usable workflow session (null, no usable id) is a failure too, with ``session_id`` the id
    it had, if a string, else ``None``; it is not stored."""

    session_id: str | None
    error: ICAError


@attrs.frozen
class SyncReport:
    """The outcome of one :meth:`Session.sync_workflow_sessions` run.

    Every listed session is counted once, as ``new`` (not in the mirror before), ``changed``
    (its listing item differs from the one last synced, or it had been marked removed and is
    listed again), ``refreshed`` (same listing item, fetched again because its last synced
    status was not terminal, an earlier run failed on it, or ``full``), ``unchanged`` (not
    fetched at all) or ``failed`` (fetched, still failing after retries, or not a usable
    workflow session; see ``failures``).
    ``removed`` counts the sessions that this run found missing from the listing and marked.
    """

    project_id: str
    path: str
    run_id: int
    full: bool
    listed: int
    new: int
    changed: int
    refreshed: int
    unchanged: int
    removed: int
    failed: int
    failures: tuple[SyncFailure, ...]
    requests: int
    elapsed: float

    @property
    def complete(self) -> bool:
        """Whether every listed session is now up to date in the mirror."""
        return self.failed == 0

    def summary(self) -> str:
        """One line for humans."""
        text = (
            f"synced {self.listed:,} sessions into {self.path} in {self.elapsed:.1f} s: "
            f"{self.new:,} new, {self.changed:,} changed, {self.refreshed:,} refreshed, "
            f"{self.unchanged:,} unchanged, "
            f"{self.removed:,} removed, {self.failed:,} failed; {self.requests:,} requests"
        )
        return text
