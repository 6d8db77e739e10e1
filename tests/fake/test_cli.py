"""The ``aioica`` command, run in process (``main([...])``) and as a subprocess, against the fake
ICA served on loopback TCP."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aioica.cli import EXIT_CODES_HELP, _short, build_parser, classify
from aioica.testing import Dataset, FakeICA, Faults, serve_in_thread
from tests.support.cli import clear_env, jsonl, run, signal_when, subprocess_env, use_fake
from tests.support.net import free_port

pytestmark = pytest.mark.tcp

PROJECT = "demo-project"
SESSIONS = 60
SECRET = "sekrit-0123456789-do-not-print"


@pytest.fixture(scope="module")
def fake() -> FakeICA:
    return FakeICA(Dataset(seed=3, projects=[PROJECT], sessions=SESSIONS, analyses=2))


@pytest.fixture(scope="module")
def url(fake: FakeICA) -> Iterator[str]:
    with serve_in_thread(fake) as base:
        yield base


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch, fake: FakeICA, url: str) -> None:
    use_fake(monkeypatch, url, fake.api_key, PROJECT)


def assert_one_line_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("aioica")


def assert_fits(text: str, width: int = 80) -> None:
    for line in text.splitlines():
        assert len(line) <= width, line


# -- help, version, parsing -----------------------------------------------------------------


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for fragment in ("exit codes", "130", "ICAV2_X_API_KEY", "sessions", "export", "demo"):
        assert fragment in out
    assert "exit codes" in EXIT_CODES_HELP
    import aioica.cli

    assert aioica.cli.__doc__ is not None and "130" in aioica.cli.__doc__


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import aioica

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert aioica.__version__ in out


def test_subcommand_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--help")
    assert code == 0
    assert "--v3" in out and "--status" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "xml", "sessions", "list", PROJECT],
        ["sessions", "list", PROJECT, "--format", "xml"],
        ["export", PROJECT, "--include", "bogus"],
        ["export", PROJECT, "--concurrency", "0"],
        ["sessions"],
        ["nonsense"],
        ["sessions", "list", PROJECT, "--no-such-flag"],
        ["--timeout", "-1", "sessions", "list", PROJECT],
    ],
)
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv, "--api-key", SECRET)
    assert code == 2
    assert out == ""
    assert_one_line_error(err)
    assert SECRET not in err


def test_global_options_anywhere() -> None:
    parser = build_parser()
    before = parser.parse_args(["--format", "json", "sessions", "list", "p"])
    after = parser.parse_args(["sessions", "list", "p", "--format", "json"])
    neither = parser.parse_args(["sessions", "list", "p"])
    assert before.format == after.format == "json"
    assert neither.format is None


# -- sessions list --------------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_list_jsonl_is_default_off_terminal(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, backend: str
) -> None:
    code, out, err = run(capsys, "--backend", backend, "sessions", "list")
    assert code == 0, err
    items = jsonl(out)
    assert [i["id"] for i in items] == fake.dataset.session_ids(PROJECT)
    assert "workflow" in items[0] and "userReference" in items[0]  # wire-shaped camelCase
    assert err == ""


@pytest.mark.usefixtures("creds")
def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--format", "json")
    assert code == 0
    assert len(json.loads(out)) == SESSIONS


@pytest.mark.usefixtures("creds")
def test_list_json_empty_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--format", "json", "--user-tag", "nope")
    assert code == 0
    assert json.loads(out) == []


@pytest.mark.usefixtures("creds")
def test_list_table_fits_80_columns(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--format", "table")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["ID", "STATUS"]
    assert len(lines) == SESSIONS + 1
    assert_fits(out)
    first = fake.dataset.sessions(PROJECT)[0]
    assert lines[1].startswith(first.id[:8])
    assert first.status in lines[1]


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("spelling", ["FAILED_FINAL", "failed-final", "FAILEDFINAL"])
def test_list_status_filter_v4(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, spelling: str
) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--status", spelling)
    assert code == 0
    expected = [s.id for s in fake.dataset.sessions(PROJECT) if s.status == "FAILED_FINAL"]
    assert [i["id"] for i in jsonl(out)] == expected
    assert expected


@pytest.mark.usefixtures("creds")
def test_list_several_statuses(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--status", "FAILED", "--status", "ABORTED")
    assert code == 0
    statuses = {i["status"] for i in jsonl(out)}
    assert statuses <= {"FAILED", "ABORTED"}
    assert len(jsonl(out)) == sum(
        s.status in ("FAILED", "ABORTED") for s in fake.dataset.sessions(PROJECT)
    )


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("spelling", ["FAILEDFINAL", "FAILED_FINAL"])
def test_list_v3(capsys: pytest.CaptureFixture[str], fake: FakeICA, spelling: str) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--v3", "--status", spelling)
    assert code == 0
    items = jsonl(out)
    assert items
    assert {i["status"] for i in items} == {"FAILEDFINAL"}  # the V3 vocabulary
    assert "ownerId" in items[0]  # V3 item shape


@pytest.mark.usefixtures("creds")
def test_list_v3_takes_one_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sessions", "list", "--v3", "--status", "A", "--status", "B")
    assert code == 2
    assert_one_line_error(err)


@pytest.mark.usefixtures("creds")
def test_list_limit_sort_and_tags(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--limit", "5")
    assert code == 0
    assert len(jsonl(out)) == 5

    code, out, _ = run(capsys, "sessions", "list", "--sort", "userReference desc")
    assert code == 0
    refs = [i["userReference"] for i in jsonl(out)]
    assert refs == sorted(refs, reverse=True) and len(refs) == SESSIONS

    code, out, _ = run(capsys, "sessions", "list", "--user-tag", "clinical")
    assert code == 0
    items = jsonl(out)
    assert items and all("clinical" in i["tags"]["userTags"] for i in items)

    ref = fake.dataset.sessions(PROJECT)[7].user_reference
    code, out, _ = run(capsys, "sessions", "list", "--user-reference", ref)
    assert code == 0
    assert ref in [i["userReference"] for i in jsonl(out)]


@pytest.mark.usefixtures("creds")
def test_list_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sessions", "list", "--progress")
    assert code == 0
    assert len(jsonl(out)) == SESSIONS  # stdout untouched by the bar
    assert "req" in err and f"{SESSIONS}" in err

    code, out, err = run(capsys, "sessions", "list", "--progress", "--quiet")
    assert code == 0
    assert err == ""


def test_cli_works_without_rich() -> None:
    code = (
        "import sys; sys.modules['rich'] = None\n"  # rich (the `cli` extra) not installed
        "from aioica.cli import main\n"
        "sys.exit(main(['sessions', 'list', '--help']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--status" in done.stdout


@pytest.mark.usefixtures("creds")
def test_no_rich_means_no_bar(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aioica.cli._progress", None)  # as if rich were missing
    code, out, err = run(capsys, "sessions", "list", "--progress")
    assert code == 0
    assert len(jsonl(out)) == SESSIONS
    assert err == ""


# -- inputs, configurations, analyses -------------------------------------------------------


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("fmt", ["jsonl", "json", "table"])
def test_inputs_and_configurations(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, fmt: str
) -> None:
    sid = fake.dataset.session_ids(PROJECT)[4]
    record = fake.dataset.session(PROJECT, sid)
    assert record is not None
    for command, raw in (
        ("inputs", fake.dataset.inputs_json(record)),
        ("configurations", fake.dataset.configurations_json(record)),
    ):
        expected = json.loads(raw)["items"]
        code, out, err = run(capsys, "sessions", command, PROJECT, sid, "--format", fmt)
        assert code == 0, err
        if fmt == "jsonl":
            assert len(jsonl(out)) == len(expected)
        elif fmt == "json":
            assert len(json.loads(out)) == len(expected)
        else:
            assert_fits(out)
            assert len(out.splitlines()) >= len(expected) + 1
        # The project can come from the environment.
        code, again, _ = run(capsys, "sessions", command, sid, "--format", fmt)
        assert code == 0 and again == out


@pytest.mark.usefixtures("creds")
def test_inputs_are_what_the_server_sent(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    import anyio

    import aioica

    sid = fake.dataset.session_ids(PROJECT)[2]

    async def fetch() -> Any:
        async with aioica.Session.from_env() as ica:
            return await ica.get_workflow_session_inputs_with_http_info(PROJECT, sid)

    info = anyio.run(fetch)
    code, out, _ = run(capsys, "sessions", "inputs", sid)
    assert code == 0
    assert jsonl(out) == info.http_response.json()["items"]
    assert [i["code"] for i in jsonl(out)] == [i.code for i in info.data.items]


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("fmt", ["jsonl", "json", "table"])
def test_analyses(capsys: pytest.CaptureFixture[str], fake: FakeICA, fmt: str) -> None:
    sids = fake.dataset.session_ids(PROJECT)
    sid = max(sids, key=lambda s: len(fake.dataset.analyses(PROJECT, s)))
    expected = fake.dataset.analysis_ids(PROJECT, sid)
    code, out, _ = run(capsys, "analyses", sid, "--format", fmt)
    assert code == 0
    if fmt == "jsonl":
        assert [i["analysis"]["id"] for i in jsonl(out)] == expected
    elif fmt == "json":
        assert [i["analysis"]["id"] for i in json.loads(out)] == expected
    else:
        assert_fits(out)
        assert len(out.splitlines()) == len(expected) + 1

    status = fake.dataset.analyses(PROJECT, sid)[0].status
    code, out, _ = run(capsys, "analyses", sid, "--status", status)
    assert code == 0
    assert {i["analysis"]["status"] for i in jsonl(out)} == {status}


# -- export ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
def test_export_stdout_jsonl(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    code, out, err = run(capsys, "export")
    assert code == 0
    records = jsonl(out)
    assert len(records) == SESSIONS
    by_id = {r["workflowSession"]["id"]: r for r in records}
    assert set(by_id) == set(fake.dataset.session_ids(PROJECT))
    for sid, record in by_id.items():
        assert set(record) == {"workflowSession", "inputs", "configurations", "analyses"}
        got = [a["analysis"]["id"] for a in record["analyses"]]
        assert got == fake.dataset.analysis_ids(PROJECT, sid)
    assert f"exported {SESSIONS} sessions" in err  # the summary, on stderr
    assert len(err.strip().splitlines()) == 1


@pytest.mark.usefixtures("creds")
def test_export_to_file_with_include(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    code, out, err = run(
        capsys, "export", "-o", str(target), "--include", "analyses", "--concurrency", "4"
    )
    assert code == 0, err
    assert out == ""
    records = jsonl(target.read_text())
    assert len(records) == SESSIONS
    assert all(set(r) == {"workflowSession", "analyses"} for r in records)
    assert str(target) in err

    code, out, err = run(capsys, "export", "-q", "-o", str(target), "--include", "none")
    assert code == 0
    assert err == ""
    assert all(set(r) == {"workflowSession"} for r in jsonl(target.read_text()))


@pytest.mark.usefixtures("creds")
def test_export_filters(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    code, out, _ = run(capsys, "-q", "export", "--status", "FAILED", "--include", "none")
    assert code == 0
    expected = {s.id for s in fake.dataset.sessions(PROJECT) if s.status == "FAILED"}
    assert {r["workflowSession"]["id"] for r in jsonl(out)} == expected


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("fmt", ["json", "table"])
def test_export_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run(capsys, "-q", "export", "--format", fmt)
    assert code == 0
    if fmt == "json":
        assert len(json.loads(out)) == SESSIONS
    else:
        assert len(out.splitlines()) == SESSIONS + 1
        assert_fits(out)


@pytest.mark.usefixtures("creds")
def test_export_progress_bar(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "export", "--progress", "-o", str(target))
    assert code == 0
    assert f"{SESSIONS}/{SESSIONS}" in err
    assert "req" in err
    assert len(jsonl(target.read_text())) == SESSIONS


@pytest.mark.usefixtures("creds")
def test_export_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "export", "-o", str(tmp_path / "missing" / "out.jsonl"))
    assert code == 2
    assert_one_line_error(err)


# -- failures: exit codes, one line, no secrets ---------------------------------------------


def test_no_credentials_exit_3(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "--base-url", url, "sessions", "list", PROJECT)
    assert code == 3
    assert out == ""
    assert_one_line_error(err)
    assert "ICAV2_X_API_KEY" in err


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_wrong_key_exit_4(capsys: pytest.CaptureFixture[str], url: str, debug: list[str]) -> None:
    code, out, err = run(
        capsys, *debug, "--base-url", url, "--api-key", SECRET, "sessions", "list", PROJECT
    )
    assert code == 4
    assert out == ""
    assert SECRET not in err
    if debug:
        assert "Traceback" in err
        assert err.strip().splitlines()[-1].startswith("aioica: error: authentication failed")
    else:
        assert_one_line_error(err)


def test_wrong_token_exit_4(capsys: pytest.CaptureFixture[str], url: str) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2lnbmF0dXJlLW5vdC12YWxpZA"
    code, _, err = run(
        capsys, "--debug", "--base-url", url, "--access-token", token, "sessions", "list", PROJECT
    )
    assert code == 4
    assert token not in err


def test_secret_from_environment_is_not_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ICAV2_X_API_KEY", SECRET)
    code, out, err = run(capsys, "--debug", "--base-url", url, "export", PROJECT)
    assert code == 4
    assert SECRET not in out + err


def test_unknown_project_exit_5(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, url: str
) -> None:
    for argv in (
        ["sessions", "list", "no-such-project"],
        ["export", "no-such-project"],
        ["sessions", "inputs", PROJECT, "00000000-0000-4000-8000-000000000000"],
    ):
        code, _, err = run(capsys, "--base-url", url, "--api-key", fake.api_key, *argv)
        assert code == 5, err
        assert_one_line_error(err)
        assert "not found" in err


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_nothing_listening_exit_6(capsys: pytest.CaptureFixture[str], debug: list[str]) -> None:
    base = f"http://127.0.0.1:{free_port()}/ica/rest"
    code, out, err = run(
        capsys,
        *debug,
        "--base-url",
        base,
        "--api-key",
        SECRET,
        "--max-attempts",
        "1",
        "sessions",
        "list",
        PROJECT,
    )
    assert code == 6
    assert SECRET not in out + err
    if not debug:
        assert_one_line_error(err)
        assert "cannot reach" in err


def test_invalid_session_id_exit_2(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, url: str
) -> None:
    code, _, err = run(
        capsys, "--base-url", url, "--api-key", fake.api_key, "sessions", "inputs", PROJECT, ".."
    )
    assert code == 2
    assert_one_line_error(err)


def test_missing_project_exit_2(capsys: pytest.CaptureFixture[str], fake: FakeICA) -> None:
    code, _, err = run(capsys, "--api-key", fake.api_key, "sessions", "list")
    assert code == 2
    assert_one_line_error(err)
    assert "ICAV2_PROJECT_ID" in err


def test_insecure_base_url_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys,
        "--base-url",
        "http://ica.example.com/ica/rest",
        "--api-key",
        SECRET,
        "sessions",
        "list",
        PROJECT,
    )
    assert code == 3
    assert_one_line_error(err)
    assert SECRET not in err


def test_unusable_key_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    bad = SECRET + "\x01"
    code, _, err = run(capsys, "--debug", "--api-key", bad, "sessions", "list", PROJECT)
    assert code == 3
    assert SECRET not in err


def test_secret_typo_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sessions", "list", PROJECT, f"--apikey={SECRET}")
    assert code == 2
    assert SECRET not in err


def test_server_error_exit_1(capsys: pytest.CaptureFixture[str], fake: FakeICA, url: str) -> None:
    fake.faults.push(500)
    try:
        code, _, err = run(
            capsys,
            "--base-url",
            url,
            "--api-key",
            fake.api_key,
            "--max-attempts",
            "1",
            "sessions",
            "list",
            PROJECT,
        )
    finally:
        fake.faults.clear()
    assert code == 1
    assert_one_line_error(err)
    assert "500" in err


def test_classify_covers_the_documented_codes() -> None:
    import httpx

    import aioica

    request = httpx.Request("GET", "https://ica.example.com/ica/rest/api/x")

    def status(code: int) -> aioica.APIStatusError:
        from aioica._errors import error_for_response

        return error_for_response(httpx.Response(code, request=request))

    assert classify(aioica.ConfigurationError("x"))[0] == 3
    assert classify(aioica.InvalidParameterError("p", "bad"))[0] == 2
    assert classify(status(401))[0] == 4
    assert classify(status(403))[0] == 4
    assert classify(aioica.TokenError("x"))[0] == 4
    assert classify(status(404))[0] == 5
    assert classify(aioica.APIConnectionError("x"))[0] == 6
    assert classify(aioica.APITimeoutError("x"))[0] == 6
    assert classify(status(400))[0] == 1
    assert classify(status(503))[0] == 1
    assert classify(RuntimeError("boom"))[0] == 1


def test_short_keeps_both_ends() -> None:
    assert _short("abcdefghij", 20) == "abcdefghij"
    assert _short("abcdefghijklmnopqrstuvwxyz", 10) == "abcd...xyz"
    assert len(_short("x" * 100, 10)) == 10
    assert _short("0123456789abcdef", 8, prefix=True) == "01234567"
    assert _short(None, 5) == "-"


# -- demo -----------------------------------------------------------------------------------


def test_demo(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "demo.jsonl"
    code, out, err = run(
        capsys, "demo", "--sessions", "40", "--latency-ms", "1", "--output", str(target)
    )
    assert code == 0, err
    records = jsonl(target.read_text())
    assert len(records) == 40
    analyses = sum(len(r["analyses"]) for r in records)
    for fragment in (
        "sessions     40",
        f"analyses     {analyses:,}",
        "requests",
        "wall time",
        "sessions/s",
        str(target),
    ):
        assert fragment in out
    assert "fake ICA" in err


def test_demo_default_output_in_cwd(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(
        capsys, "-q", "--backend", "trio", "demo", "--sessions", "10", "--latency-ms", "0"
    )
    assert code == 0
    assert len(jsonl((tmp_path / "aioica-demo-export.jsonl").read_text())) == 10
    assert "sessions     10" in out


# -- subprocesses: python -m aioica, fake-server, Ctrl-C, broken pipe -----------------------


def test_python_m_aioica() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aioica", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(),
    )
    assert done.returncode == 0
    assert "exit codes" in done.stdout
    assert done.stdout.startswith("usage: python -m aioica")


def test_fake_server_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fake-server", "--help")
    assert code == 0
    assert "--latency-ms" in out

    proc = subprocess.Popen(
        [sys.executable, "-m", "aioica", "fake-server", "--port", "0", "--sessions", "7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        settings: dict[str, str] = {}
        assert proc.stdout is not None
        for line in proc.stdout:
            name, eq, value = line.strip().partition("=")
            if eq:
                settings[name] = value
            if line.startswith("Press Ctrl-C"):
                break
        code, out, err = run(
            capsys,
            "--base-url",
            settings["ICAV2_BASE_URL"],
            "--api-key",
            settings["ICAV2_X_API_KEY"],
            "sessions",
            "list",
            settings["ICAV2_PROJECT_ID"],
        )
        assert code == 0, err
        assert len(jsonl(out)) == 7
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


@pytest.fixture(scope="module")
def slow_url() -> Iterator[tuple[str, str]]:
    """A fake slow enough that an export is still running when interrupted."""
    fake = FakeICA(Dataset(seed=1, sessions=3000, analyses=3), faults=Faults(latency_ms=30))
    with serve_in_thread(fake) as base:
        yield base, fake.api_key


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_to_file_keeps_complete_lines(
    slow_url: tuple[str, str], tmp_path: Path, backend: str
) -> None:
    base, key = slow_url
    target = tmp_path / "partial.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aioica",
            "--backend",
            backend,
            "export",
            PROJECT,
            "-o",
            str(target),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(ICAV2_BASE_URL=base, ICAV2_X_API_KEY=key),
    )
    err = signal_when(
        proc, lambda: target.exists() and target.read_text().count("\n") >= 20, signal.SIGINT
    )
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    text = target.read_text()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert 20 <= len(lines) < 3000
    for line in lines:
        json.loads(line)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
def test_ctrl_c_to_stdout_keeps_complete_lines(slow_url: tuple[str, str]) -> None:
    base, key = slow_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioica", "export", PROJECT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(ICAV2_BASE_URL=base, ICAV2_X_API_KEY=key),
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        first = proc.stdout.readline()  # the export is under way
        proc.send_signal(signal.SIGINT)
        # Read on through the same buffered reader: readline() may already hold the bytes
        # after the first line, which communicate() (reading the raw pipe) would skip.
        rest = proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 130, err
    text = (first + rest).decode()
    assert text.endswith("\n")
    for line in text.splitlines():
        json.loads(line)
    assert b"Traceback" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_broken_pipe_is_quiet(slow_url: tuple[str, str]) -> None:
    base, key = slow_url
    proc = subprocess.Popen(
        [sys.executable, "-m", "aioica", "sessions", "list", PROJECT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env(ICAV2_BASE_URL=base, ICAV2_X_API_KEY=key),
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        json.loads(proc.stdout.readline())  # like `| head -n 1`
        proc.stdout.close()
        proc.wait(timeout=60)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stderr.close()
    assert proc.returncode == 0
    assert b"Traceback" not in err and b"BrokenPipe" not in err
