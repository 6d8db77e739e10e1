"""Every script in examples/ runs, without ICA credentials, against the embedded fake ICA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import EXAMPLES

pytestmark = pytest.mark.tcp


SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("test_"))


def run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICAV2_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_every_example_is_tested() -> None:
    assert set(SCRIPTS) == {
        "errors_and_retries.py",
        "export_project.py",
        "list_failed_sessions.py",
        "request_metrics.py",
        "stream_analyses.py",
        "token_auth.py",
        "web_backend.py",
    }
    assert (EXAMPLES / "test_with_fake.py").is_file()


def test_list_failed_sessions(tmp_path: Path) -> None:
    done = run("list_failed_sessions.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "fake ICA" in lines[0]
    rows = lines[1:-1]
    assert rows and all(" FAILED" in row for row in rows)
    assert lines[-1] == f"{len(rows)} failed workflow sessions"


def test_export_project(tmp_path: Path) -> None:
    done = run("export_project.py", "out.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == 500
    assert set(records[0]) == {"workflowSession", "inputs", "configurations", "analyses"}
    assert "wrote 500 sessions" in done.stdout


def test_export_project_default_output(tmp_path: Path) -> None:
    done = run("export_project.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "export.jsonl").read_text().count("\n") == 500


def test_stream_analyses(tmp_path: Path) -> None:
    done = run("stream_analyses.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert "analyses from 40 workflow sessions" in last
    count = int(last.split()[0])
    assert count > 0
    assert len(done.stdout.splitlines()) == count + 2  # the fake notice and the total


def test_token_auth(tmp_path: Path) -> None:
    done = run("token_auth.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "TokenAuth(mode='api_key'" in out
    assert "TokenAuth(mode='basic'" in out
    # 20 concurrent requests per session, yet one mint each: renewal is single-flight.
    assert out.count("tokens minted: 1,") == 2
    assert "minted 2 tokens in all" in out


def test_errors_and_retries(tmp_path: Path) -> None:
    done = run("errors_and_retries.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for fragment in (
        "read 200 sessions and their inputs despite",
        "ServerError without retries: HTTP 503",
        "ServerError after 6 attempts: HTTP 502",
        "NotFoundError: HTTP 404",
        "InvalidParameterError (no request sent)",
        "AuthenticationError: HTTP 401",
        "APIConnectionError after 3 attempts",
    ):
        assert fragment in out


def test_request_metrics(tmp_path: Path) -> None:
    done = run("request_metrics.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "exported 60 workflow sessions" in out
    listing = 'route="/api/projects/{id}/workflowSessions:search",status="200"} 1'
    assert f'aioica_requests_total{{method="POST",{listing}' in out
    assert "aioica_request_duration_seconds_count" in out
    # The fake throws in 429s and 5xx: the hook saw the retries and the pauses.
    assert 'aioica_retries_total{route="/api/projects/{id}/workflowSessions/{id}/' in out
    assert "aioica_rate_limit_pauses_total" in out


def test_web_backend_demo(tmp_path: Path) -> None:
    done = run("web_backend.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "GET /sessions?limit=5 -> 5 sessions" in out
    assert "GET /export -> 300 JSON lines" in out


def test_with_fake_runs_under_pytest(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICAV2_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES / "test_with_fake.py"),
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 passed" in done.stdout
