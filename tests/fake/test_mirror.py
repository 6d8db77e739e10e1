"""The SQLite mirror (``Session.sync_workflow_sessions``) against the fake ICA, in process."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest

import aioica
from aioica._mirror import TERMINAL, _writer, must_fetch
from aioica._mirror._store import Outcome, SessionState, outcome
from aioica.testing import Dataset, FakeICA, Faults
from tests.support.mirror import P, expected, integrity, mirrored, table_dump
from tests.support.tasks import settle

N = 120
DETAIL_ROUTES = (
    "getWorkflowSessionInputs",
    "getWorkflowSessionConfigurations",
    "searchOrchestratedAnalyses",
)


def make_fake(sessions: int = N, **faults: Any) -> FakeICA:
    return FakeICA(Dataset(seed=5, sessions=sessions, analyses=2), faults=Faults(**faults))


def non_terminal(fake: FakeICA) -> int:
    return sum(1 for s in fake.dataset.sessions(P) if s.status not in TERMINAL)


class Gate:
    """An ASGI wrapper: requests for ``session_id``'s details wait for ``release``."""

    def __init__(self, fake: FakeICA, session_id: str) -> None:
        self.fake = fake
        self.session_id = session_id
        self.release = anyio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and f"/workflowSessions/{self.session_id}/" in scope["path"]:
            await self.release.wait()
        await self.fake(scope, receive, send)


def gated_session(gate: Gate, **kwargs: Any) -> aioica.Session:
    return aioica.Session(
        auth=aioica.ApiKeyAuth(gate.fake.api_key),
        base_url=gate.fake.base_url,
        transport=httpx.ASGITransport(app=gate),
        **kwargs,
    )


# -- the rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "digest", "full", "fetch"),
    [
        (None, "h", False, True),  # new
        (SessionState("h", "SUCCEEDED", False), "h", False, False),
        (SessionState("h", "FAILED_FINAL", False), "h", False, False),
        (SessionState("h", "ABORTED", False), "h", False, False),
        (SessionState("h", "SUCCEEDED", False), "h", True, True),  # full
        (SessionState("h", "SUCCEEDED", False), "other", False, True),  # listing changed
        (SessionState("h", "FAILED", False), "h", False, True),  # FAILED may become FINAL
        (SessionState("h", "IN_PROGRESS", False), "h", False, True),
        (SessionState("h", "SOME_NEW_STATUS", False), "h", False, True),  # unknown: may change
        (SessionState("h", None, False), "h", False, True),
        (SessionState("h", "SUCCEEDED", False, failed=True), "h", False, True),
        (SessionState("h", "SUCCEEDED", True), "h", False, True),  # was removed, is back
    ],
)
def test_incremental_rule(old: SessionState | None, digest: str, full: bool, fetch: bool) -> None:
    assert must_fetch(old, digest, full=full) is fetch


# -- syncs ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_first_sync_equals_the_dataset(tmp_path: Path) -> None:
    fake = make_fake()
    db = str(tmp_path / "mirror.db")
    async with fake.session() as ica:
        report = await ica.sync_workflow_sessions(P, db)
    assert mirrored(db) == expected(fake)
    assert (report.listed, report.new, report.changed, report.refreshed) == (N, N, 0, 0)
    assert (report.unchanged, report.removed, report.failed, report.complete) == (0, 0, 0, True)
    assert report.requests == fake.counters.requests == 1 + 3 * N
    assert report.elapsed > 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s = fake.dataset.sessions(P)[0]
        row = conn.execute(
            "SELECT user_reference, workflow_code, time_created, status FROM workflow_sessions "
            "WHERE id = ?",
            (s.id,),
        ).fetchone()
        assert row == (s.user_reference, s.workflow_code, expected(fake)[s.id]["json"]
                       ["timeCreated"], s.status)  # fmt: skip
        runs = conn.execute("SELECT outcome, listed, new, requests FROM sync_runs").fetchall()
        assert runs == [("ok", N, N, 1 + 3 * N)]


@pytest.mark.anyio
async def test_unchanged_second_run_fetches_only_non_terminal_sessions(tmp_path: Path) -> None:
    fake = make_fake(sessions=2100)  # three listing pages of 1,000
    db = str(tmp_path / "mirror.db")
    async with fake.session() as ica:
        await ica.sync_workflow_sessions(P, db)
        fake.counters.reset()
        report = await ica.sync_workflow_sessions(P, db)
    open_ = non_terminal(fake)
    assert 0 < open_ < 2100
    pages = math.ceil(2100 / 1000)
    assert report.requests == fake.counters.requests == pages + 3 * open_
    assert fake.counters.by_route["searchWorkflowSessions"] == pages
    for route in DETAIL_ROUTES:
        assert fake.counters.by_route[route] == open_
    assert (report.new, report.changed, report.refreshed) == (0, 0, open_)
    assert report.unchanged == 2100 - open_
    assert mirrored(db) == expected(fake)


@pytest.mark.anyio
async def test_full_fetches_everything_again(tmp_path: Path) -> None:
    fake = make_fake()
    db = str(tmp_path / "mirror.db")
    async with fake.session() as ica:
        await ica.sync_workflow_sessions(P, db)
        fake.counters.reset()
        report = await ica.sync_workflow_sessions(P, db, full=True)
    assert report.requests == 1 + 3 * N
    assert (report.refreshed, report.unchanged) == (N, 0)
    assert mirrored(db) == expected(fake)


@pytest.mark.anyio
async def test_advanced_dataset_synced_again(tmp_path: Path) -> None:
    fake = make_fake()
    db = str(tmp_path / "mirror.db")
    async with fake.session() as ica:
        await ica.sync_workflow_sessions(P, db)
        before = mirrored(db)
        step = fake.advance()
        progressed, added, removed = (
            set(step.progressed[P]),
            set(step.added[P]),
            set(step.removed[P]),
        )
        assert progressed and added and removed
        fake.counters.reset()
        seen: dict[str, str] = {}
        report = await ica.sync_workflow_sessions(
            P, db, on_session=lambda sid, outcome: seen.setdefault(sid, outcome)
        )
    want = expected(fake)
    assert mirrored(db) == want
    # Removed sessions keep their rows and details, with removed_at set.
    gone = mirrored(db, removed=True)
    assert set(gone) == removed
    for sid in removed:
        assert gone[sid] == before[sid]
    assert report.removed == len(removed)
    assert report.new == len(added)
    assert {s for s, o in seen.items() if o == "new"} == added
    assert {s for s, o in seen.items() if o == "changed"} == progressed - removed
    assert len(seen) == report.listed == len(want)
    still_open = sum(1 for sid in before if sid in want and before[sid]["status"] not in TERMINAL)
    assert report.requests == 1 + 3 * (len(added) + still_open)
    assert integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        for table in ("analyses",):
            total, distinct = conn.execute(
                f"SELECT count(*), count(DISTINCT id) FROM {table}"
            ).fetchone()
            assert (
                total
                == distinct
                == sum(len(s["analyses"]) for s in [*want.values(), *gone.values()])
            )


@pytest.mark.anyio
async def test_removed_session_that_reappears_is_unremoved(tmp_path: Path) -> None:
    fake = make_fake()
    db = str(tmp_path / "mirror.db")
    async with fake.session() as ica:
        await ica.sync_workflow_sessions(P, db)
        sid = fake.advance().removed[P][0]
        await ica.sync_workflow_sessions(P, db)
        assert sid in mirrored(db, removed=True)
        fake.dataset.restore_session(P, sid)
        seen: dict[str, str] = {}
        report = await ica.sync_workflow_sessions(
            P, db, on_session=lambda s, outcome: seen.setdefault(s, outcome)
        )
    assert seen[sid] == "changed"
    assert report.removed == 0
    assert sid not in mirrored(db, removed=True)
    assert mirrored(db) == expected(fake)


@pytest.mark.anyio
async def test_failing_session_is_recorded_and_fetched_next_run(tmp_path: Path) -> None:
    fake = make_fake()
    # A terminal session: only the failure makes the next run fetch it again.
    victim = next(s for s in fake.dataset.sessions(P) if s.status in TERMINAL)
    fake.faults.fail_session(victim.id, 500)
    db = str(tmp_path / "mirror.db")
    retry = aioica.RetryPolicy(max_attempts=2, backoff_base=0.01)
    async with fake.session(retry=retry) as ica:
        report = await ica.sync_workflow_sessions(P, db)
        assert report.failed == 1 and not report.complete
        assert [f.session_id for f in report.failures] == [victim.id]
        assert isinstance(report.failures[0].error, aioica.ServerError)
        assert report.new == N - 1
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT status, sync_error, listing_hash, removed_at FROM workflow_sessions "
                "WHERE id = ?",
                (victim.id,),
            ).fetchone()
            outcome = conn.execute("SELECT outcome, failed FROM sync_runs").fetchone()
        assert row[0] == victim.status and "ServerError" in row[1]
        assert row[2] is not None and row[3] is None
        assert outcome == ("incomplete", 1)
        want = expected(fake)
        got = mirrored(db)
        assert got[victim.id]["json"] == want[victim.id]["json"]
        assert got[victim.id]["analyses"] == {} and got[victim.id]["inputs"] == []
        del got[victim.id], want[victim.id]
        assert got == want

        fake.faults.failing_sessions.clear()
        fake.counters.reset()
        seen: dict[str, str] = {}
        report = await ica.sync_workflow_sessions(
            P, db, on_session=lambda s, outcome: seen.setdefault(s, outcome)
        )
    assert report.complete and report.failed == 0
    assert seen[victim.id] == "refreshed"
    open_ = sum(1 for s in fake.dataset.sessions(P) if s.status not in TERMINAL)
    assert report.requests == 1 + 3 * (open_ + 1)
    assert mirrored(db) == expected(fake)
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT sync_error FROM workflow_sessions WHERE id = ?", (victim.id,)
        ).fetchone() == (None,)


class Rewritten:
    """An ASGI wrapper: every 200 answer's body passed through ``rewrite`` (sent uncompressed,
    so that it can be)."""

    def __init__(self, fake: FakeICA, rewrite: Callable[[bytes], bytes]) -> None:
        self.fake = fake
        self.rewrite = rewrite

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.fake(scope, receive, send)
        # Identity bodies only, so they can be rewritten.
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start["status"] == 200:
                body = self.rewrite(body)
            fixed = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            fixed.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": fixed})
            await send({"type": "http.response.body", "body": body})

        await self.fake({**scope, "headers": headers}, receive, capture)


def rewritten_session(fake: FakeICA, rewrite: Callable[[bytes], bytes]) -> aioica.Session:
    """A session on ``fake`` whose answers' bodies pass through ``rewrite`` (see Rewritten)."""
    return aioica.Session(
        auth=aioica.ApiKeyAuth(fake.api_key),
        base_url=fake.base_url,
        transport=httpx.ASGITransport(app=Rewritten(fake, rewrite)),
    )


def indented(body: bytes) -> bytes:
    """Every JSON body re-laid out with indentation and spaces."""
    return json.dumps(json.loads(body), indent=2, ensure_ascii=False).encode()


@pytest.mark.anyio
async def test_the_mirror_keeps_the_server_text_verbatim(tmp_path: Path) -> None:
    fake = make_fake(sessions=20)
    db = str(tmp_path / "mirror.db")
    async with fake.session() as ica:
        await ica.sync_workflow_sessions(P, db)
        # Only the sync's own requests keep their text: afterwards raw pages are plain again.
        page: Any = await ica.search_workflow_sessions(P, raw=True)
        assert page["items"] and all(type(i) is dict for i in page["items"])
    ds = fake.dataset
    with sqlite3.connect(db) as conn:
        for s in ds.sessions(P):
            (row,) = conn.execute("SELECT json FROM workflow_sessions WHERE id = ?", (s.id,))
            assert row[0] == ds.session_json(s, 4)
            for a in ds.analyses(P, s.id):
                (row,) = conn.execute("SELECT json FROM analyses WHERE id = ?", (a.id,))
                assert row[0] in ds.analysis_json(a)
                assert json.loads(row[0]) == json.loads(ds.analysis_json(a))["analysis"]
            for table, whole in (
                ("inputs", ds.inputs_json(s)),
                ("configurations", ds.configurations_json(s)),
            ):
                rows = conn.execute(
                    f"SELECT json FROM {table} WHERE workflow_session_id = ?", (s.id,)
                ).fetchall()
                assert rows and all(t in whole for (t,) in rows)


@pytest.mark.anyio
async def test_an_indenting_server_is_mirrored_as_sent_and_stays_unchanged(
    tmp_path: Path,
) -> None:
    fake = make_fake(sessions=30)
    db = str(tmp_path / "mirror.db")
    async with rewritten_session(fake, indented) as ica:
        first = await ica.sync_workflow_sessions(P, db)
        fake.counters.reset()
        second = await ica.sync_workflow_sessions(P, db)
    assert first.new == 30
    assert mirrored(db) == expected(fake)
    with sqlite3.connect(db) as conn:
        texts = [t for (t,) in conn.execute("SELECT json FROM workflow_sessions")]
        texts += [t for (t,) in conn.execute("SELECT json FROM analyses")]
    assert texts and all(t.startswith("{\n  ") for t in texts)  # the server's layout, kept
    # The listing hash is of the text as sent: the same layout hashes the same next time.
    assert (second.changed, second.unchanged) == (0, 30 - non_terminal(fake))
    assert fake.counters.requests == 1 + 3 * non_terminal(fake)


@pytest.mark.anyio
async def test_text_sqlite_cannot_store_is_kept_with_a_replacement_character(
    tmp_path: Path,
) -> None:
    # Valid JSON whose strings decode to a lone surrogate, which UTF-8 (and SQLite) cannot
    # carry: the sync must not fail on it, now or on any later run.
    def surrogate(body: bytes) -> bytes:
        return body.replace(b'"userReference":"', b'"userReference":"\\ud800')

    fake = make_fake(sessions=12)
    db = str(tmp_path / "mirror.db")
    async with rewritten_session(fake, surrogate) as ica:
        first = await ica.sync_workflow_sessions(P, db)
        second = await ica.sync_workflow_sessions(P, db)
    assert (first.new, first.failed, second.failed) == (12, 0, 0)
    assert second.unchanged == 12 - non_terminal(fake)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT user_reference, json FROM workflow_sessions").fetchall()
    assert len(rows) == 12
    for reference, text in rows:
        assert reference.startswith("\ufffd")
        assert '"userReference":"\\ud800' in text  # the server's text, verbatim


@pytest.mark.anyio
async def test_readers_query_while_a_sync_writes(tmp_path: Path) -> None:
    fake = make_fake()
    # The last listed session's requests wait until a reader has seen a partial mirror, so
    # the reads below happen while the sync is provably still writing.
    last = fake.dataset.sessions(P)[-1]
    gate = Gate(fake, last.id)
    db = str(tmp_path / "mirror.db")
    counts: list[int] = []

    def read() -> int:
        with sqlite3.connect(db, timeout=0.5) as conn:
            analyses = conn.execute("SELECT count(*) FROM analyses").fetchone()[0]
            sessions = conn.execute("SELECT count(*) FROM workflow_sessions").fetchone()[0]
            assert analyses >= 0
            return int(sessions)

    async def reader() -> None:
        while True:
            try:
                n = await anyio.to_thread.run_sync(read)
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):  # anything but "not created yet"
                    raise
                n = 0
            counts.append(n)
            if 0 < n < N:
                gate.release.set()
                return
            await anyio.sleep(0.01)

    async with gated_session(gate) as ica, anyio.create_task_group() as tg:
        tg.start_soon(reader)
        report = await ica.sync_workflow_sessions(P, db)
    assert report.complete
    assert any(0 < n < N for n in counts)
    assert counts == sorted(counts)
    assert mirrored(db) == expected(fake)


@pytest.mark.anyio
async def test_cancelled_sync_then_rerun_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    fake = make_fake(sessions=300, latency_ms=2)
    db, reference = str(tmp_path / "killed.db"), str(tmp_path / "reference.db")
    written = 0
    enough = anyio.Event()

    def count(_sid: str, outcome: str) -> None:
        nonlocal written
        written += outcome != "unchanged"
        if written >= 60:
            enough.set()

    async with fake.session() as ica:
        with anyio.move_on_after(30) as scope:
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    await enough.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(watch)
                await ica.sync_workflow_sessions(P, db, on_session=count)
        assert not scope.cancelled_caught
        assert 60 <= written < 300
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT outcome FROM sync_runs").fetchall() == [("cancelled",)]
            # Everything fetched before the cancellation was written on the way out.
            stored = conn.execute("SELECT count(*) FROM workflow_sessions").fetchone()[0]
            assert stored == written
        fake.counters.reset()
        report = await ica.sync_workflow_sessions(P, db)
        await ica.sync_workflow_sessions(P, reference)
    assert report.complete
    assert report.new + report.refreshed + report.unchanged == 300
    assert report.new < 300  # what the first run wrote was not fetched again as new
    assert table_dump(db) == table_dump(reference)
    assert integrity(db) == "ok"


@pytest.mark.anyio
async def test_the_writer_writes_the_last_batch_as_soon_as_the_block_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Batches gather for an hour and the buffer is looked at once an hour: only the end of
    # the stream itself can make the writer write before the watchdog below gives up.
    monkeypatch.setattr(_writer, "_POLL", 3600.0)
    written: list[list[str]] = []

    class Recorder:
        def write(self, batch: list[Outcome], run_id: int) -> None:
            written.append([o.session[0] for o in batch])

    async def call(func: Any, *args: Any) -> Any:
        return func(*args)

    with anyio.fail_after(20):
        async with _writer.writer(call, Recorder(), 1, delay=3600) as send:  # type: ignore[arg-type]
            for sid in ("a", "b", "c"):
                await send.send(outcome({"id": sid}, "{}", "h"))
    assert written == [["a", "b", "c"]]


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("path", [b"x.db", 3, "", ":memory:"])
async def test_bad_path_is_refused_before_any_request(path: Any) -> None:
    fake = make_fake()
    async with fake.session() as ica:
        with pytest.raises(aioica.InvalidParameterError, match="path"):
            await ica.sync_workflow_sessions(P, path)
    assert fake.counters.requests == 0


@pytest.mark.anyio
async def test_unusable_files_raise_mirror_error(tmp_path: Path) -> None:
    fake = make_fake(sessions=5)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    db = str(tmp_path / "mirror.db")
    async with fake.session() as ica:
        for _ in range(2):  # the second time too: the failed run let go of its lock
            with pytest.raises(aioica.MirrorError, match=r"junk\.db: file is not a database"):
                await ica.sync_workflow_sessions(P, junk)
        with pytest.raises(aioica.MirrorError):
            await ica.sync_workflow_sessions(P, tmp_path)  # a directory
        await ica.sync_workflow_sessions(P, db)
        fake.counters.reset()
        with pytest.raises(aioica.MirrorError, match="mirrors project demo-project"):
            await ica.sync_workflow_sessions("other-project", db)
        with pytest.raises(aioica.InvalidParameterError):
            await ica.sync_workflow_sessions("..", db)
    assert fake.counters.requests == 0
    assert issubclass(aioica.MirrorError, aioica.ICAError)


@pytest.mark.anyio
async def test_page_size_is_set_for_new_files_and_kept_for_old_ones(tmp_path: Path) -> None:
    fake = make_fake(sessions=8)
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # a mirror file created with SQLite's default pages
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("CREATE TABLE t (x)")
    async with fake.session() as ica:
        for path in (new, old):
            report = await ica.sync_workflow_sessions(P, path)
            assert report.complete
    sizes = {}
    for path in (new, old):
        with sqlite3.connect(path) as conn:
            sizes[path.name] = conn.execute("PRAGMA page_size").fetchone()[0]
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert mirrored(str(path)) == mirrored(str(new))
    assert sizes == {"new.db": 16384, "old.db": 4096}


@pytest.mark.anyio
async def test_a_second_sync_of_the_same_file_is_refused_while_one_runs(tmp_path: Path) -> None:
    fake = make_fake()
    gate = Gate(fake, fake.dataset.sessions(P)[-1].id)
    db = str(tmp_path / "mirror.db")
    refused: list[BaseException] = []
    async with gated_session(gate) as ica, anyio.create_task_group() as tg:

        async def first() -> None:
            report = await ica.sync_workflow_sessions(P, db)
            assert report.complete

        tg.start_soon(first)
        # Until the first run holds the file and waits on the gated session.
        await settle(lambda: fake.counters.requests >= 3 * (N - 1))
        before = fake.counters.requests
        async with fake.session() as other:
            with pytest.raises(aioica.MirrorError, match="another sync of this file") as err:
                await other.sync_workflow_sessions(P, db)
            refused.append(err.value)
        assert fake.counters.requests == before  # refused before any request
        gate.release.set()
    assert refused
    assert mirrored(db) == expected(fake)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT outcome FROM sync_runs").fetchall() == [("ok",)]
    # The lock went with the run: the next one proceeds.
    async with fake.session() as ica:
        assert (await ica.sync_workflow_sessions(P, db)).complete
