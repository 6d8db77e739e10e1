"""``aioica sync DB``: in process and as a subprocess killed with SIGKILL, against the fake ICA
served on loopback TCP."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aioica._mirror import TERMINAL
from aioica.cli import main
from aioica.testing import Dataset, FakeICA, serve_in_thread
from tests.support.cli import signal_when, subprocess_env, use_fake
from tests.support.mirror import P, expected, integrity, mirrored, table_dump

pytestmark = pytest.mark.tcp


@pytest.fixture
def fake() -> FakeICA:
    return FakeICA(Dataset(seed=7, projects=[P], sessions=150, analyses=2))


@pytest.fixture
def url(fake: FakeICA) -> Iterator[str]:
    with serve_in_thread(fake) as base:
        yield base


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch, fake: FakeICA, url: str) -> None:
    use_fake(monkeypatch, url, fake.api_key, P)


def sync(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["sync", *argv])
    return code, capsys.readouterr().err


@pytest.mark.usefixtures("creds")
def test_sync_then_incremental_sync(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, tmp_path: Path
) -> None:
    db = str(tmp_path / "m.db")
    code, err = sync(capsys, db)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synced 150 sessions into "), err
    assert "150 new" in lines[0] and f"{1 + 3 * 150} requests" in lines[0]
    assert mirrored(db) == expected(fake)

    fake.counters.reset()
    code, err = sync(capsys, db)
    open_ = sum(1 for s in fake.dataset.sessions(P) if s.status not in TERMINAL)
    assert code == 0, err
    assert f"{150 - open_} unchanged" in err and f"{1 + 3 * open_} requests" in err
    assert fake.counters.requests == 1 + 3 * open_

    step = fake.advance()
    code, err = sync(capsys, db, "--quiet")
    assert code == 0 and err == ""
    assert mirrored(db) == expected(fake)
    assert set(mirrored(db, removed=True)) == set(step.removed[P])

    fake.counters.reset()
    code, err = sync(capsys, db, "--full")
    assert code == 0, err
    assert fake.counters.requests == 1 + 3 * len(expected(fake))


@pytest.mark.usefixtures("creds")
def test_failed_sessions_exit_1_and_are_fetched_next_time(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, tmp_path: Path
) -> None:
    db = str(tmp_path / "m.db")
    fake.faults.routes = frozenset({"getWorkflowSessionConfigurations"})
    fake.faults.statuses_5xx = (503,)
    fake.faults.html_fraction = 0.0
    fake.faults.rate_5xx = 0.1
    code, err = sync(capsys, db, "--max-attempts", "1")
    failed = [line for line in err.splitlines() if line.startswith("aioica: error: session ")]
    assert code == 1, err
    assert failed, err
    assert all("503" in line for line in failed), failed
    assert f"{len(failed)} failed" in err
    assert f"aioica: error: {len(failed)} session(s) not synced" in err
    with sqlite3.connect(db) as conn:
        flagged = conn.execute(
            "SELECT count(*) FROM workflow_sessions WHERE sync_error IS NOT NULL"
        ).fetchone()[0]
    assert flagged == len(failed)

    fake.faults.clear()
    code, err = sync(capsys, db)
    assert code == 0, err
    assert mirrored(db) == expected(fake)


@pytest.mark.usefixtures("creds")
def test_a_mirror_of_another_project_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "m.db")
    assert sync(capsys, db)[0] == 0
    code, err = sync(capsys, db, "another-project")
    assert code == 3
    assert err.strip() == f"aioica: error: {db} mirrors project {P}, not another-project"


def count_rows(db: Path, sql: str) -> int:
    """A reader in this process, while the sync writes from another one."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):  # anything but "not created yet"
            raise
        return 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("kill_after", [0, 60])
def test_sigkill_mid_sync_then_rerun_equals_an_uninterrupted_sync(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kill_after: int,
) -> None:
    fake = FakeICA(Dataset(seed=8, projects=[P], sessions=300, analyses=2))
    db, reference = tmp_path / "killed.db", tmp_path / "reference.db"
    with serve_in_thread(fake) as base:
        env = subprocess_env(ICAV2_BASE_URL=base, ICAV2_X_API_KEY=fake.api_key, ICAV2_PROJECT_ID=P)
        fake.faults.latency_ms = 25  # slow enough to be killed part way
        proc = subprocess.Popen(
            [sys.executable, "-m", "aioica", "--max-concurrency", "8", "sync", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        if kill_after:
            sql = "SELECT count(*) FROM workflow_sessions"
        else:  # as early as possible: the run is recorded, no session yet
            sql = "SELECT count(*) FROM sync_runs"
        signal_when(proc, lambda: count_rows(db, sql) >= max(kill_after, 1), signal.SIGKILL)
        assert proc.returncode == -signal.SIGKILL
        partial = count_rows(db, "SELECT count(*) FROM workflow_sessions")
        open_before = count_rows(
            db,
            "SELECT count(*) FROM workflow_sessions WHERE status NOT IN "
            "('SUCCEEDED', 'FAILED_FINAL', 'ABORTED')",
        )
        assert kill_after <= partial < 300
        assert integrity(str(db)) == "ok"

        fake.faults.latency_ms = 0
        fake.counters.reset()
        for name, value in env.items():
            if name.startswith("ICAV2_"):
                monkeypatch.setenv(name, value)
        code, err = sync(capsys, str(db))
        assert code == 0, err
        rerun_requests = fake.counters.requests
        code, err = sync(capsys, str(reference))
        assert code == 0, err

    assert table_dump(str(db)) == table_dump(str(reference))
    assert mirrored(str(db)) == expected(fake)
    assert integrity(str(db)) == "ok"
    with sqlite3.connect(db) as conn:
        outcomes = [r[0] for r in conn.execute("SELECT outcome FROM sync_runs ORDER BY id")]
    assert outcomes == ["interrupted", "ok"]
    # Sessions the killed run finished (and that are terminal) were not fetched again.
    assert rerun_requests == 1 + 3 * (300 - partial + open_before)


def test_demo_sync_shows_a_first_and_an_incremental_sync(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "demo.db"
    code = main(["demo", "--sessions", "50", "--latency-ms", "0", "--sync", str(db)])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = [line for line in out.splitlines() if " requests in " in line]
    assert len(lines) == 2, out
    first, second = (
        int(re.search(r"([\d,]+) requests in", line).group(1).replace(",", ""))  # type: ignore[union-attr]
        for line in lines
    )
    assert first == 1 + 3 * 50
    assert second < first
    assert "50 new" in lines[0]
    for line in out.splitlines():
        assert len(line) <= 80 or line.startswith("Next:"), line
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT outcome, requests FROM sync_runs ORDER BY id").fetchall()
    assert runs == [("ok", first), ("ok", second)]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
def test_ctrl_c_stops_a_sync_cleanly(tmp_path: Path) -> None:
    fake = FakeICA(Dataset(seed=9, projects=[P], sessions=300, analyses=2))
    db = tmp_path / "m.db"
    fake.faults.latency_ms = 25
    with serve_in_thread(fake) as base:
        env = subprocess_env(ICAV2_BASE_URL=base, ICAV2_X_API_KEY=fake.api_key, ICAV2_PROJECT_ID=P)
        proc = subprocess.Popen(
            [sys.executable, "-m", "aioica", "--max-concurrency", "8", "sync", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        err = signal_when(
            proc,
            lambda: count_rows(db, "SELECT count(*) FROM workflow_sessions") >= 20,
            signal.SIGINT,
        )
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert integrity(str(db)) == "ok"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT outcome FROM sync_runs").fetchall() == [("cancelled",)]
        stored = conn.execute("SELECT count(*) FROM workflow_sessions").fetchone()[0]
    assert 20 <= stored < 300
