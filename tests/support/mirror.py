"""What a mirror should hold (from the fake's dataset) and what it does hold (from the file)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from aioica.testing import FakeICA

P = "demo-project"


def expected(fake: FakeICA, project: str = P) -> dict[str, dict[str, Any]]:
    """Per listed session: status, listing item, analyses (id -> analysis object), inputs and
    configurations, straight from the dataset."""
    ds = fake.dataset
    out: dict[str, dict[str, Any]] = {}
    for s in ds.sessions(project):
        out[s.id] = {
            "status": s.status,
            "json": json.loads(ds.session_json(s, 4)),
            "analyses": {
                a.id: json.loads(ds.analysis_json(a))["analysis"]
                for a in ds.analyses(project, s.id)
            },
            "inputs": json.loads(ds.inputs_json(s))["items"],
            "configurations": json.loads(ds.configurations_json(s))["items"],
        }
    return out


def mirrored(path: str, *, removed: bool = False) -> dict[str, dict[str, Any]]:
    """The same shape read back from a mirror: listed sessions (or, with ``removed``, the ones
    marked removed)."""
    db = sqlite3.connect(path)
    try:
        where = "removed_at IS NOT NULL" if removed else "removed_at IS NULL"
        out: dict[str, dict[str, Any]] = {}
        for sid, status, text in db.execute(
            f"SELECT id, status, json FROM workflow_sessions WHERE {where}"
        ):
            out[sid] = {
                "status": status,
                "json": json.loads(text),
                "analyses": {
                    aid: json.loads(a)
                    for aid, a in db.execute(
                        "SELECT id, json FROM analyses WHERE workflow_session_id = ?", (sid,)
                    )
                },
                "inputs": [
                    json.loads(t)
                    for (t,) in db.execute(
                        "SELECT json FROM inputs WHERE workflow_session_id = ? ORDER BY position",
                        (sid,),
                    )
                ],
                "configurations": [
                    json.loads(t)
                    for (t,) in db.execute(
                        "SELECT json FROM configurations WHERE workflow_session_id = ? "
                        "ORDER BY position",
                        (sid,),
                    )
                ],
            }
        return out
    finally:
        db.close()


def table_dump(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every data row of a mirror, sorted, without the per-run bookkeeping columns (times, run
    ids): two mirrors of the same data compare equal."""
    db = sqlite3.connect(path)
    try:
        return {
            "workflow_sessions": sorted(
                db.execute(
                    "SELECT id, status, json, removed_at IS NULL, user_reference, workflow_code, "
                    "time_created, start_date, end_date, sync_error, listing_hash "
                    "FROM workflow_sessions"
                )
            ),
            "analyses": sorted(db.execute("SELECT * FROM analyses")),
            "inputs": sorted(db.execute("SELECT * FROM inputs")),
            "configurations": sorted(db.execute("SELECT * FROM configurations")),
        }
    finally:
        db.close()


def integrity(path: str) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()
