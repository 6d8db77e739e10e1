"""The SQLite side of the mirror: schema, the per-session state a sync decides on, writes.

Every method here blocks (stdlib ``sqlite3``) and is called from a worker thread, one call at a
time (see :class:`~aioica._mirror._writer.StoreThread`); the connection is opened with
``check_same_thread=False`` for that reason. The database runs in WAL mode, so readers (the
sqlite3 shell, pandas, Datasette) query a consistent snapshot while a sync writes.

Exactly-once comes from the schema and from one rule: a session's listing hash is stored in the
same transaction as its details. A run killed before that commit leaves the old hash (or no
row), so the next run fetches the session again and replaces, never appends, its details.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs

from .._wiretext import wire_text
from ..models import StatusV4
from ._report import MirrorError

__all__ = [
    "LOCK_SUFFIX",
    "SCHEMA_VERSION",
    "TERMINAL",
    "WIRE_MEMBERS",
    "Outcome",
    "SessionState",
    "Store",
    "SyncLock",
    "json_text",
    "outcome",
    "utc_now",
]

SCHEMA_VERSION = 1

T = TypeVar("T")

# Bound parameters per statement: SQLite's own default limit before 3.32 (newer builds allow
# 32,766 or more); about a hundred rows of the widest table.
_MAX_PARAMS = 999

#: Workflow session statuses that never change again; anything else (unknown values
#: included) may, so such sessions are fetched again on every run.
TERMINAL = frozenset(s.value for s in StatusV4 if s.terminal)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workflow_sessions (
    id TEXT PRIMARY KEY,
    status TEXT,
    json TEXT NOT NULL,
    removed_at TEXT,
    user_reference TEXT,
    workflow_code TEXT,
    time_created TEXT,
    start_date TEXT,
    end_date TEXT,
    first_seen_at TEXT NOT NULL,
    synced_at TEXT,
    sync_error TEXT,
    listing_hash TEXT,
    run_id INTEGER
);
CREATE INDEX IF NOT EXISTS workflow_sessions_status ON workflow_sessions (status);
CREATE INDEX IF NOT EXISTS workflow_sessions_user_reference
    ON workflow_sessions (user_reference);
CREATE INDEX IF NOT EXISTS workflow_sessions_time_created ON workflow_sessions (time_created);
CREATE INDEX IF NOT EXISTS workflow_sessions_workflow_code ON workflow_sessions (workflow_code);
CREATE TABLE IF NOT EXISTS analyses (
    id TEXT PRIMARY KEY,
    workflow_session_id TEXT NOT NULL,
    status TEXT,
    json TEXT NOT NULL,
    reference TEXT,
    user_reference TEXT,
    pipeline_code TEXT,
    time_created TEXT,
    time_modified TEXT,
    start_date TEXT,
    end_date TEXT
);
CREATE INDEX IF NOT EXISTS analyses_workflow_session_id ON analyses (workflow_session_id);
CREATE INDEX IF NOT EXISTS analyses_status ON analyses (status);
CREATE TABLE IF NOT EXISTS inputs (
    workflow_session_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    code TEXT,
    json TEXT NOT NULL,
    PRIMARY KEY (workflow_session_id, position)
);
CREATE TABLE IF NOT EXISTS configurations (
    workflow_session_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT,
    json TEXT NOT NULL,
    PRIMARY KEY (workflow_session_id, position)
);
CREATE TABLE IF NOT EXISTS sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    full INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    listed INTEGER,
    new INTEGER,
    changed INTEGER,
    refreshed INTEGER,
    unchanged INTEGER,
    removed INTEGER,
    failed INTEGER,
    requests INTEGER,
    elapsed_s REAL,
    error TEXT
);
"""


def utc_now() -> str:
    """Now as ISO 8601 UTC with milliseconds (the server's own date format, so it sorts)."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z"


#: Compact JSON text. No circularity check: values come from decoded JSON, which has no cycles
#: (and the check costs a sixth of the encoding time).
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode


#: The members of page items whose objects are stored on their own: an ``analyses:search``
#: item wraps the analysis the ``analyses`` table keeps.
WIRE_MEMBERS = frozenset({"analysis"})


def json_text(value: Any) -> str:
    """The text ``value`` was sent as, or compact JSON when it was not decoded from a page."""
    text = wire_text(value)
    return _dumps(value) if text is None else text


def storable(value: Any) -> Any:
    """``value`` with every lone surrogate replaced by U+FFFD (other values as they are).

    A JSON ``"\\ud800"`` escape decodes to a lone surrogate, which UTF-8, and so SQLite, cannot
    store; a valid pair becomes the character it encodes.
    """
    if value.__class__ is str:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@attrs.frozen
class SessionState:
    """What the last sync stored about one session: all a run needs to decide on it."""

    listing_hash: str | None
    status: str | None
    removed: bool
    failed: bool = False  # the last fetch failed: details missing or stale


@attrs.frozen
class Outcome:
    """One session for the writer: its rows, built and JSON-encoded by :func:`outcome`."""

    #: The listing columns of ``workflow_sessions`` (id to end_date).
    session: tuple[Any, ...]
    listing_hash: str
    inputs: list[tuple[Any, ...]] = attrs.Factory(list)
    configurations: list[tuple[Any, ...]] = attrs.Factory(list)
    analyses: list[tuple[Any, ...]] = attrs.Factory(list)
    error: str | None = None
    # Not in the mirror before this run: no old details to delete.
    new: bool = False


def outcome(
    listing: Mapping[str, Any],
    listing_json: str,
    listing_hash: str,
    *,
    inputs: Sequence[Mapping[str, Any]] = (),
    configurations: Sequence[Mapping[str, Any]] = (),
    analyses: Sequence[Mapping[str, Any]] = (),
    error: str | None = None,
    new: bool = False,
) -> Outcome:
    """One session's rows (details ignored with ``error``: the old ones stay).

    Built on the event loop as each session arrives, not in the writer thread: what work is
    left (the JSON is the items' wire text, encoded only for items that have none) holds the
    GIL, and a thread that holds it for a whole batch stalls every socket call of the fan-out
    (each waits out the interpreter's switch interval).
    """
    sid = listing["id"]
    get = listing.get
    workflow = get("workflow")
    session = (
        sid,
        _text(get("status")),
        listing_json,
        _text(get("userReference")),
        _text(workflow.get("code")) if isinstance(workflow, dict) else None,
        _text(get("timeCreated")),
        _text(get("startDate")),
        _text(get("endDate")),
    )
    if error is not None:
        return Outcome(session, listing_hash, error=error, new=new)
    return Outcome(
        session,
        listing_hash,
        [(sid, i, _text(item.get("code")), json_text(item)) for i, item in enumerate(inputs)],
        [
            (sid, i, _text(item.get("name")), json_text(item))
            for i, item in enumerate(configurations)
        ],
        [a for item in analyses if (a := _analysis_row(sid, item)) is not None],
        new=new,
    )


#: Next to the mirror file: the lock that keeps two syncs of one file apart.
LOCK_SUFFIX = ".sync-lock"


class SyncLock:
    """Held for a whole sync run: a second run on the same file is refused, not interleaved.

    The lock is an exclusive transaction on a small SQLite file beside the mirror, so it works
    wherever SQLite's own locking does (between processes and between connections of one
    process), and the operating system drops it with a process that is killed: a dead run
    never blocks the next one. The mirror itself cannot hold it: readers use it all along.
    """

    def __init__(self, path: str) -> None:
        self.path = path + LOCK_SUFFIX
        self._db = sqlite3.connect(
            self.path, timeout=0, isolation_level=None, check_same_thread=False
        )
        try:
            self._db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            self._db.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise MirrorError(
                    f"{path}: another sync of this file is running (it holds {self.path})"
                ) from None
            raise

    def release(self) -> None:
        """Let the next run in."""
        try:
            self._db.execute("ROLLBACK")
        finally:
            self._db.close()


class Store:
    """One SQLite mirror file. Not thread-safe: one caller at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA busy_timeout = 30000")
            # Before anything is created (a no-op on an existing file): an analysis's JSON is a
            # few KiB, which on 4 KiB pages spills every row into an overflow page; 16 KiB pages
            # hold such rows whole (the writer's CPU for a first sync fell by about 40 %).
            self._db.execute("PRAGMA page_size = 16384")
            mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch {path} to WAL (got {mode})")
            # In WAL mode NORMAL never corrupts and never loses a commit to a killed process;
            # only a power cut may lose the latest commits, which the next run fetches again.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = OFF")
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection (a passive WAL checkpoint happens on the way)."""
        self._db.close()

    # -- run bookkeeping --------------------------------------------------------------------

    def begin_run(self, project_id: str, full: bool) -> tuple[int, str | None]:
        """Claim the file for ``project_id`` and record a new run.

        Returns the run id and the project the file already mirrors (``None`` for a new file);
        the caller refuses a mismatch before calling this. Runs left ``running`` by a killed
        process are marked ``interrupted``.
        """
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'project_id'").fetchone()
            if row is None:
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("project_id", project_id), ("schema_version", str(SCHEMA_VERSION))],
                )
            self._db.execute(
                "UPDATE sync_runs SET outcome = 'interrupted' WHERE outcome = 'running'"
            )
            cur = self._db.execute(
                "INSERT INTO sync_runs (project_id, started_at, full, outcome) "
                "VALUES (?, ?, ?, 'running')",
                (project_id, utc_now(), int(full)),
            )
        return int(cur.lastrowid or 0), None if row is None else str(row[0])

    def mirrored_project(self) -> str | None:
        """The project this file mirrors, or ``None`` if no sync ever started in it."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'project_id'").fetchone()
        return None if row is None else str(row[0])

    def finish_run(self, run_id: int, outcome: str, counts: Mapping[str, Any]) -> None:
        """Record how a run ended (``ok``, ``incomplete``, ``failed``, ``cancelled``)."""
        names = (
            "listed",
            "new",
            "changed",
            "refreshed",
            "unchanged",
            "removed",
            "failed",
            "requests",
        )
        with self._transaction():
            self._db.execute(
                "UPDATE sync_runs SET finished_at = ?, outcome = ?, "
                + ", ".join(f"{n} = ?" for n in names)
                + ", elapsed_s = ?, error = ? WHERE id = ?",
                (
                    utc_now(),
                    outcome,
                    *(counts.get(n) for n in names),
                    counts.get("elapsed_s"),
                    counts.get("error"),
                    run_id,
                ),
            )

    # -- state ------------------------------------------------------------------------------

    def state(self) -> dict[str, SessionState]:
        """Per session id, what the decision rule needs (a few dozen bytes per session)."""
        rows = self._db.execute(
            "SELECT id, listing_hash, status, removed_at IS NOT NULL, sync_error IS NOT NULL "
            "FROM workflow_sessions"
        )
        # Statuses interned: a dozen distinct values shared by every session in memory.
        return {
            r[0]: SessionState(r[1], sys.intern(r[2]) if r[2] else r[2], bool(r[3]), bool(r[4]))
            for r in rows
        }

    # -- writes -----------------------------------------------------------------------------

    def write(self, batch: Iterable[Outcome], run_id: int) -> None:
        """Store a batch of sessions in one transaction; each one's details are replaced as a
        whole (or, for a failure, kept as they were and flagged).

        One statement per table for the whole batch: per-row calls would cost more CPU than
        the rows themselves.
        """
        now = utc_now()
        sessions: list[tuple[Any, ...]] = []
        stale: list[str] = []
        inputs: list[tuple[Any, ...]] = []
        configurations: list[tuple[Any, ...]] = []
        analyses: list[tuple[Any, ...]] = []
        for o in batch:
            if o.error is not None:
                # Old details stay; sync_error makes the next run fetch it again.
                sessions.append((*o.session, now, run_id, o.error, o.listing_hash, None))
                continue
            sessions.append((*o.session, now, run_id, None, o.listing_hash, now))
            if not o.new:
                stale.append(o.session[0])
            inputs += o.inputs
            configurations += o.configurations
            analyses += o.analyses
        with self._transaction():
            self._insert(_UPSERT_HEAD, sessions, _UPSERT_TAIL)
            for chunk in _chunks(stale, _MAX_PARAMS):
                marks = ", ".join("?" * len(chunk))
                for table in ("analyses", "inputs", "configurations"):
                    self._db.execute(
                        f"DELETE FROM {table} WHERE workflow_session_id IN ({marks})", chunk
                    )
            self._insert("INSERT OR REPLACE INTO inputs VALUES", inputs)
            self._insert("INSERT OR REPLACE INTO configurations VALUES", configurations)
            self._insert("INSERT OR REPLACE INTO analyses VALUES", analyses)

    def _insert(self, head: str, rows: Sequence[tuple[Any, ...]], tail: str = "") -> None:
        """``head`` + rows of placeholders (+ ``tail``), about a hundred rows per statement.

        Not ``executemany``: the sqlite3 module lets go of the GIL for every row it steps and
        takes it back after, and each time the event loop's thread (which wants the GIL back
        after every socket call) waits for the hand-over: 0.43 s of the loop's time in a
        profile of a first sync, half that with these statements, which bind their rows in one
        go and step once.
        """
        if not rows:
            return
        marks = "(" + ", ".join("?" * len(rows[0])) + ")"
        for chunk in _chunks(rows, _MAX_PARAMS // len(rows[0])):
            sql = f"{head} {', '.join([marks] * len(chunk))} {tail}"
            values = [value for row in chunk for value in row]
            try:
                self._db.execute(sql, values)
            except UnicodeEncodeError:
                # Rare: a value UTF-8 cannot carry. Binding fails before anything is written;
                # stored with U+FFFD in its place rather than failing the batch (and every later
                # run over the same data).
                self._db.execute(sql, [storable(value) for value in values])

    def mark_removed(self, ids: Sequence[str], run_id: int) -> None:
        """Flag sessions that the listing no longer has (their rows stay)."""
        now = utc_now()
        with self._transaction():
            self._db.executemany(
                "UPDATE workflow_sessions SET removed_at = ?, run_id = ? "
                "WHERE id = ? AND removed_at IS NULL",
                [(now, run_id, sid) for sid in ids],
            )

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def _transaction(self) -> Store._Tx:
        return Store._Tx(self._db)


# A listed session, inserted or updated in place (first_seen_at kept, removed_at cleared). A
# failure (sync_error set: the next run fetches it again) keeps the time of the last good sync.
_UPSERT_HEAD = """
INSERT INTO workflow_sessions (id, status, json, user_reference, workflow_code, time_created,
    start_date, end_date, first_seen_at, run_id, sync_error, listing_hash, synced_at)
VALUES"""
_UPSERT_TAIL = """
ON CONFLICT (id) DO UPDATE SET
    status = excluded.status, json = excluded.json, removed_at = NULL,
    user_reference = excluded.user_reference, workflow_code = excluded.workflow_code,
    time_created = excluded.time_created, start_date = excluded.start_date,
    end_date = excluded.end_date, run_id = excluded.run_id, sync_error = excluded.sync_error,
    listing_hash = excluded.listing_hash,
    synced_at = CASE WHEN excluded.sync_error IS NULL THEN excluded.synced_at
        ELSE workflow_sessions.synced_at END
"""


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _analysis_row(sid: str, item: Mapping[str, Any]) -> tuple[Any, ...] | None:
    a = item.get("analysis")
    if not isinstance(a, dict) or not isinstance(a.get("id"), str):
        return None  # nothing to key it on
    pipeline = a.get("pipeline")
    return (
        a["id"],
        sid,
        _text(a.get("status")),
        json_text(a),
        _text(a.get("reference")),
        _text(a.get("userReference")),
        _text(pipeline.get("code")) if isinstance(pipeline, dict) else None,
        _text(a.get("timeCreated")),
        _text(a.get("timeModified")),
        _text(a.get("startDate")),
        _text(a.get("endDate")),
    )
