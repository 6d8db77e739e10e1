"""``aioica export --resume`` and ``--keep-going`` against the fake ICA on loopback TCP: a run
killed with SIGKILL and resumed, a permanently failing session, what "complete in FILE" means."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aioica.cli import main
from aioica.testing import Dataset, FakeICA, FakeServer, serve_in_thread
from tests.support.cli import run, settle, signal_when, subprocess_env, use_fake

pytestmark = pytest.mark.tcp

PROJECT = "demo-project"
SESSIONS = 200
DETAIL_ROUTES = (
    "getWorkflowSessionInputs",
    "getWorkflowSessionConfigurations",
    "searchOrchestratedAnalyses",
)


@pytest.fixture(scope="module")
def fake() -> FakeICA:
    return FakeICA(Dataset(seed=13, projects=[PROJECT], sessions=SESSIONS, analyses=3))


@pytest.fixture(scope="module")
def url(fake: FakeICA) -> Iterator[str]:
    with serve_in_thread(fake) as base:
        yield base


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, fake: FakeICA, url: str) -> Iterator[None]:
    use_fake(monkeypatch, url, fake.api_key, PROJECT)
    settle(fake)
    fake.faults.clear()
    fake.counters.reset()
    yield
    fake.faults.clear()


@pytest.fixture(scope="module")
def reference(fake: FakeICA, url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What one uninterrupted run writes: each session's line, by id."""
    target = tmp_path_factory.mktemp("ref") / "full.jsonl"
    with pytest.MonkeyPatch.context() as mp:  # module-scoped: no `monkeypatch` fixture here
        use_fake(mp, url, fake.api_key, PROJECT)
        assert main(["export", "-q", "-o", str(target)]) == 0
    lines = by_id(target)
    assert len(lines) == SESSIONS
    return lines


def by_id(path: Path) -> dict[str, str]:
    text = path.read_text()
    assert text.endswith("\n")
    out: dict[str, str] = {}
    for line in text.splitlines():
        sid = json.loads(line)["workflowSession"]["id"]
        assert sid not in out, f"{sid} written twice"
        out[sid] = line
    return out


def detail_requests(fake: FakeICA) -> list[int]:
    return [fake.counters.by_route[r] for r in DETAIL_ROUTES]


def complete_ids(path: Path) -> set[str]:
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1].decode()
    return {json.loads(line)["workflowSession"]["id"] for line in complete.splitlines()}


# -- SIGKILL, then --resume -------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_export_resumes_each_session_exactly_once(
    capsys: pytest.CaptureFixture[str],
    fake: FakeICA,
    url: str,
    tmp_path: Path,
    reference: dict[str, str],
) -> None:
    target = tmp_path / "out.jsonl"
    fake.faults.latency_ms = 30  # slow enough to be killed part way
    child_env = subprocess_env(ICAV2_BASE_URL=url, ICAV2_X_API_KEY=fake.api_key)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aioica",
            "export",
            PROJECT,
            "-o",
            str(target),
            "--concurrency",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env,
    )
    signal_when(
        proc, lambda: target.exists() and target.read_bytes().count(b"\n") >= 10, signal.SIGKILL
    )
    assert proc.returncode == -signal.SIGKILL, "the export ended before it could be killed"
    finished = complete_ids(target)
    assert 10 <= len(finished) < SESSIONS

    fake.faults.latency_ms = 0
    fake.counters.reset()
    code, _, err = run(capsys, "export", "-o", str(target), "--resume")
    assert code == 0, err
    assert f"{len(finished):,} sessions already complete" in err

    got = by_id(target)
    # Each session exactly once, every line as one uninterrupted run would have written it
    # (so with every analysis).
    assert got == reference
    # Only the sessions missing from the file were fetched: one request of each kind for each,
    # none for a finished one. The listing was read once.
    missing = SESSIONS - len(finished)
    assert detail_requests(fake) == [missing, missing, missing]
    assert fake.counters.by_route["searchWorkflowSessions"] == 1


def test_resume_drops_a_partial_last_line(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, tmp_path: Path, reference: dict[str, str]
) -> None:
    target = tmp_path / "out.jsonl"
    lines = list(reference.values())
    kept = lines[:120]
    partial = lines[120][: len(lines[120]) // 2]
    target.write_text("\n".join(kept) + "\n" + partial)
    code, _, err = run(capsys, "export", "-o", str(target), "--resume")
    assert code == 0, err
    assert f"dropped a partial last line ({len(partial.encode()):,} bytes)" in err
    assert by_id(target) == reference
    assert detail_requests(fake) == [80, 80, 80]


def test_resume_of_a_complete_file_fetches_nothing_but_the_listing(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, tmp_path: Path, reference: dict[str, str]
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("".join(line + "\n" for line in reference.values()))
    before = target.read_bytes()
    code, _, err = run(capsys, "-q", "export", "-o", str(target), "--resume")
    assert (code, err) == (0, "")
    assert target.read_bytes() == before
    assert detail_requests(fake) == [0, 0, 0]
    assert fake.counters.requests == 1


def test_resume_without_a_file_starts_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, reference: dict[str, str]
) -> None:
    target = tmp_path / "new.jsonl"
    code, _, err = run(capsys, "-q", "export", "-o", str(target), "--resume")
    assert code == 0, err
    assert by_id(target) == reference


# -- --keep-going ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_keep_going_then_resume_fetches_exactly_the_failed_and_missing(
    capsys: pytest.CaptureFixture[str],
    fake: FakeICA,
    tmp_path: Path,
    reference: dict[str, str],
    backend: str,
) -> None:
    target = tmp_path / "out.jsonl"
    bad = fake.dataset.session_ids(PROJECT)[17]
    fake.faults.fail_session(bad, 503)
    code, out, err = run(
        capsys,
        "-q",
        "--backend",
        backend,
        "--max-attempts",
        "2",
        "export",
        "-o",
        str(target),
        "--keep-going",
    )
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    # One line for the session (its id and the error), one with the count at the end.
    assert len(lines) == 2, err
    assert lines[0].startswith(f"aioica: error: session {bad}: ")
    assert "503" in lines[0] and "after 2 attempts" in lines[0]
    assert lines[1].startswith("aioica: error: 1 session failed and was not written")
    assert "--resume" in lines[1]
    first = by_id(target)
    assert set(first) == set(reference) - {bad}  # a failed session is not written at all
    assert all(first[sid] == reference[sid] for sid in first)

    # A killed run would also have left sessions out: drop the last 30 lines.
    kept = target.read_text().splitlines()[:-30]
    target.write_text("".join(line + "\n" for line in kept))
    fake.faults.clear()
    fake.counters.reset()
    code, _, err = run(
        capsys, "-q", "--backend", backend, "export", "-o", str(target), "--resume", "--keep-going"
    )
    assert (code, err) == (0, "")
    assert by_id(target) == reference
    assert detail_requests(fake) == [31, 31, 31]


def test_keep_going_to_stdout(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    bad = fake.dataset.session_ids(PROJECT)[3]
    fake.faults.fail_session(bad, 404)
    code, out, err = run(capsys, "-q", "export", "--keep-going", "--include", "inputs")
    assert code == 1
    ids = [json.loads(line)["workflowSession"]["id"] for line in out.splitlines()]
    assert sorted(ids) == sorted(set(fake.dataset.session_ids(PROJECT)) - {bad})
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"aioica: error: session {bad}: not found: ")
    assert lines[1] == "aioica: error: 1 session failed and was not written"


def test_without_keep_going_a_failing_session_stops_the_export(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, tmp_path: Path
) -> None:
    fake.faults.fail_session(fake.dataset.session_ids(PROJECT)[3], 404)
    code, _, err = run(capsys, "-q", "export", "-o", str(tmp_path / "x.jsonl"))
    assert code == 5
    assert len(err.splitlines()) == 1


def test_progress_bar_shows_skipped_done_and_failed(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeICA,
    tmp_path: Path,
    reference: dict[str, str],
) -> None:
    monkeypatch.setenv("COLUMNS", "120")  # rich wraps a cell that does not fit on the line
    target = tmp_path / "out.jsonl"
    target.write_text("".join(line + "\n" for line in list(reference.values())[:150]))
    missing = list(reference)[150:]
    fake.faults.fail_session(missing[0], 404)
    fake.faults.fail_session(missing[1], 404)
    code, _, err = run(
        capsys, "export", "--progress", "-o", str(target), "--resume", "--keep-going"
    )
    assert code == 1
    assert f"{SESSIONS}/{SESSIONS}: 48 done, 150 skipped, 2 failed" in err
    assert "skipped 150 already in the file; 2 failed" in err  # the summary line
    for sid in missing[:2]:
        assert sum(f"session {sid}:" in line for line in err.splitlines()) == 1


# -- what "complete in FILE" means -------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--resume"], "--resume needs -o FILE"),
        (["export", "-o", "-", "--resume"], "--resume needs -o FILE"),
        (["export", "-o", "{file}", "--resume", "--format", "json"], "JSON Lines only"),
    ],
)
def test_resume_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    argv = [a.replace("{file}", str(tmp_path / "x.jsonl")) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"workflowSession":{"id":"a"},"inputs":[]}\nnot json\n', "line 2 is not JSON"),
        ('{"other":1}\n', "line 1 is not an export record"),
        ('{"workflowSession":{"id":7},"inputs":[]}\n', "line 1 is not an export record"),
        ("[1,2]\n", "line 1 is not an export record"),
        ('{"workflowSession":{"id":"a"},"analyses":[]}\n', "has the parts analyses"),
        ("\n", "line 1 is not JSON"),
    ],
)
def test_resume_refuses_a_file_that_is_not_this_exports_output(
    capsys: pytest.CaptureFixture[str],
    fake: FakeICA,
    tmp_path: Path,
    content: str,
    message: str,
) -> None:
    target = tmp_path / "x.jsonl"
    target.write_text(content + '{"partial')
    before = target.read_bytes()
    code, _, err = run(capsys, "export", "-o", str(target), "--resume", "--include", "inputs")
    assert code == 2
    assert message in err and str(target) in err
    assert len(err.splitlines()) == 1
    assert target.read_bytes() == before  # not even the partial line was touched
    assert fake.counters.requests == 0


def test_resume_with_the_same_include(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, tmp_path: Path
) -> None:
    target = tmp_path / "x.jsonl"
    assert run(capsys, "-q", "export", "-o", str(target), "--include", "none")[0] == 0
    kept = target.read_text().splitlines()[:50]
    target.write_text("".join(line + "\n" for line in kept))
    fake.counters.reset()
    code, _, err = run(capsys, "-q", "export", "-o", str(target), "--resume", "--include", "none")
    assert code == 0, err
    records: list[dict[str, Any]] = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == SESSIONS and all(set(r) == {"workflowSession"} for r in records)
    assert {r["workflowSession"]["id"] for r in records} == set(fake.dataset.session_ids(PROJECT))
    assert fake.counters.requests == 1


class BadListing:
    """The fake ICA, except that its listing also has a null item and one whose id carries a
    terminal escape sequence (served through the fake's own TCP server)."""

    def __init__(self, fake: FakeICA) -> None:
        self.fake = fake
        self.base_path = fake.base_path
        self.closing = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("workflowSessions:search"):
            good = json.loads(self.fake.dataset.session_json(self.fake.dataset.sessions()[0], 4))
            items = [good, None, {"id": "\x1b[31mred"}]
            body = json.dumps({"items": items, "nextPageToken": None}).encode()
            headers = [(b"content-type", b"application/vnd.illumina.v3+json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.fake(scope, receive, send)


def test_keep_going_reports_unusable_listing_items_as_inert_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fake: FakeICA
) -> None:
    server = FakeServer(BadListing(fake))  # type: ignore[arg-type]
    monkeypatch.setenv("ICAV2_BASE_URL", server.start())
    try:
        code, out, err = run(capsys, "-q", "export", "--keep-going")
    finally:
        server.stop()
    assert code == 1
    assert [json.loads(line)["workflowSession"]["id"] for line in out.splitlines()] == [
        fake.dataset.session_ids(PROJECT)[0]
    ]
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert "\x1b" not in err and "Traceback" not in err
    assert all(line.startswith("aioica: error: a listed session: ") for line in lines[:2])
    assert any("null, not an object" in line for line in lines[:2])
    assert any("\\x1b[31mred" in line for line in lines[:2])  # quoted, not interpreted
    assert lines[2] == "aioica: error: 2 sessions failed and were not written"
