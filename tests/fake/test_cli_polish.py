"""The ``aioica`` command as a new user meets it: error lines that say what happened once and
plainly, a bad ``--status`` caught before any request, a progress bar with real counts from the
first item, one exit-code table, one credential order."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import aioica
from aioica.cli import EXIT_CODES, EXIT_CODES_HELP, build_parser, classify, main
from aioica.cli._codes import exit_codes_markdown
from aioica.cli._runtime import Runtime
from aioica.models import StatusV3, StatusV4
from aioica.testing import Dataset, FakeICA, serve_in_thread
from tests.support.cli import clear_env, run, settle, use_fake
from tests.support.net import free_port
from tests.support.paths import ROOT

pytestmark = pytest.mark.tcp

PROJECT = "demo-project"
SESSIONS = 40
README = ROOT / "README.md"


@pytest.fixture(scope="module")
def fake() -> FakeICA:
    return FakeICA(Dataset(seed=5, projects=[PROJECT], sessions=SESSIONS, analyses=2))


@pytest.fixture(scope="module")
def url(fake: FakeICA) -> Iterator[str]:
    with serve_in_thread(fake) as base:
        yield base


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch, fake: FakeICA, url: str) -> None:
    use_fake(monkeypatch, url, fake.api_key, PROJECT)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def max_paren_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


# -- error lines ----------------------------------------------------------------------------


def test_401_hint_appears_once(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, _, err = run(capsys, "--base-url", url, "--api-key", "wrong-key", "sessions", "list", "p")
    assert code == 4
    line = error_line(err)
    assert line.startswith("aioica: error: authentication failed:")
    assert line.count("ICAV2_X_API_KEY") == 1
    assert line.count("check ") == 1
    assert "--api-key" in line
    assert "auth=" not in line  # the library's hint speaks to programs, not to shell users


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list", "no-such-project"],
        ["sessions", "inputs", PROJECT, "00000000-0000-4000-8000-000000000000"],
    ],
)
def test_404_hint_has_no_nested_parentheses(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, url: str, argv: list[str]
) -> None:
    code, _, err = run(capsys, "--base-url", url, "--api-key", fake.api_key, *argv)
    assert code == 5
    line = error_line(err)
    assert "not found" in line
    assert "check the project id" in line
    assert max_paren_depth(line) == 1, line


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_refused_connection_is_said_plainly(
    capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/ica/rest"
    code, out, err = run(
        capsys,
        "--backend",
        backend,
        "--base-url",
        base,
        "--api-key",
        "some-key",
        "--max-attempts",
        "1",
        "sessions",
        "list",
        PROJECT,
    )
    assert code == 6
    assert out == ""
    line = error_line(err)
    assert f"connection refused to 127.0.0.1:{port}" in line
    assert "ssl" not in line.lower()  # plain http: no TLS was ever involved
    assert line.startswith(f"aioica: error: cannot reach {base}")


@pytest.mark.parametrize("transport", ["auto", "httpx"])
def test_classify_refused_connection_from_either_transport(transport: str) -> None:
    import anyio

    port = free_port()

    async def attempt() -> BaseException:
        session = aioica.Session(
            aioica.ApiKeyAuth("some-key"),
            base_url=f"http://localhost:{port}/ica/rest",
            retry=aioica.RetryPolicy(max_attempts=1),
            transport=transport,
        )
        async with session as ica:
            with pytest.raises(aioica.APIConnectionError) as info:
                await ica.search_workflow_sessions(PROJECT)
        return info.value

    exc = anyio.run(attempt)
    code, message = classify(exc, "http://localhost")
    assert code == 6
    assert f"connection refused to localhost:{port}" in message
    assert "ssl:default" not in message


# -- --status -------------------------------------------------------------------------------


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list", "--status", "BOGUS"],
        ["sessions", "list", "--v3", "--status", "BOGUS"],
        ["sessions", "list", "--status", "FAILED", "--status", "DONE"],
        ["export", "--status", "BOGUS"],
        ["analyses", "00000000-0000-4000-8000-000000000000", "--status", "BOGUS"],
        ["sessions", "list", "--status", ""],
    ],
)
def test_bad_status_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, argv: list[str]
) -> None:
    settle(fake)
    before = fake.counters.requests
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    line = error_line(err)
    assert "--status" in line
    if "" not in argv:
        for value in StatusV4:  # the valid values are listed
            assert value.value in line
    assert fake.counters.requests == before  # nothing was sent


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("spelling", ["INPROGRESS", "in_progress", "In-Progress"])
def test_both_status_spellings_still_work_with_both_endpoints(
    capsys: pytest.CaptureFixture[str], fake: FakeICA, spelling: str
) -> None:
    running = {s.id for s in fake.dataset.sessions(PROJECT) if s.status == "IN_PROGRESS"}
    assert running
    code, out, _ = run(capsys, "sessions", "list", "--status", spelling)
    assert code == 0
    assert {json.loads(line)["id"] for line in out.splitlines()} == running

    code, out, _ = run(capsys, "sessions", "list", "--v3", "--status", spelling)
    assert code == 0
    items = [json.loads(line) for line in out.splitlines()]
    assert items and {i["status"] for i in items} == {"INPROGRESS"}


def test_status_help_lists_the_vocabulary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sessions", "list", "--help")
    assert code == 0
    flat = " ".join(out.split())
    for value in StatusV4:
        assert value.value in flat
    assert set(StatusV3.ALL) - set(StatusV4.ALL) == {"INPROGRESS", "AWAITINGINPUT", "FAILEDFINAL"}


# -- the progress bar -----------------------------------------------------------------------


def test_progress_columns_show_the_first_item() -> None:
    from aioica.cli._progress import ProgressBar, _Count, _Rate

    bar = ProgressBar("list", "sessions", lambda: 1, total=40)
    task = bar._progress.tasks[0]
    assert _Count("sessions").render(task).plain == "0/40 sessions"
    assert _Rate().render(task).plain == "-/s"  # nothing fetched yet
    bar.advance()
    task = bar._progress.tasks[0]
    assert _Count("sessions").render(task).plain == "1/40 sessions"
    rate = _Rate().render(task).plain
    assert rate != "-/s" and re.fullmatch(r"[0-9,]+/s", rate), rate


class _Rows:
    """stdout that notes, at every row written, what the progress bar counts."""

    def __init__(self, bars: list[Any]) -> None:
        self.bars = bars
        self.seen: list[int] = []
        self.text = ""

    def write(self, text: str) -> int:
        for _ in range(text.count("\n")):
            self.seen.append(int(self.bars[-1]._progress.tasks[0].completed))
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("command", [["sessions", "list"], ["export", "--include", "none"]])
def test_progress_bar_counts_each_row_as_it_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    from aioica.cli import _progress

    bars: list[Any] = []
    enter = _progress.ProgressBar.__enter__

    def record(self: Any) -> Any:
        bars.append(self)
        return enter(self)

    monkeypatch.setattr(_progress.ProgressBar, "__enter__", record)
    rows = _Rows(bars)
    monkeypatch.setattr(sys, "stdout", rows)
    code = main([*command, "--progress", "--format", "jsonl"])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(rows.seen) == SESSIONS
    # The bar counts row n when row n is printed: never "0 sessions" while rows appear.
    assert rows.seen == list(range(1, SESSIONS + 1))
    assert f"{SESSIONS}/{SESSIONS}" in err


# -- one exit-code table --------------------------------------------------------------------


def test_exit_codes_come_from_one_table(capsys: pytest.CaptureFixture[str]) -> None:
    import aioica.cli

    codes = [row.code for row in EXIT_CODES]
    assert codes == sorted(set(codes))
    assert exit_codes_markdown() in README.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "--help")
    assert code == 0
    doc = aioica.cli.__doc__ or ""
    for row in EXIT_CODES:
        assert re.search(rf"^  {row.code} +\S", EXIT_CODES_HELP, re.M), row
        assert re.search(rf"^  {row.code} +\S", out, re.M), row
        assert f"* {row.code} — " in doc
        first_words = " ".join(row.meaning.replace("`", "").split()[:3])
        assert first_words in " ".join(out.split())


def test_classify_returns_only_documented_codes() -> None:
    import httpx

    from aioica._errors import error_for_response

    request = httpx.Request("GET", "https://ica.example.com/ica/rest/api/x")
    errors: list[BaseException] = [
        aioica.ConfigurationError("x"),
        aioica.InvalidParameterError("p", "bad"),
        aioica.TokenError("x"),
        aioica.APIConnectionError("x"),
        aioica.APITimeoutError("x"),
        RuntimeError("boom"),
    ]
    errors += [
        error_for_response(httpx.Response(s, request=request))
        for s in (400, 401, 403, 404, 429, 500)
    ]
    table = {row.code for row in EXIT_CODES}
    assert {classify(e)[0] for e in errors} <= table


# -- one credential order -------------------------------------------------------------------


def runtime(*argv: str) -> Runtime:
    args = build_parser().parse_args([*argv, "sessions", "list", "p"])
    return Runtime(args, [])


JWT = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2ln"


def test_cli_credentials_follow_session_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICAV2_X_API_KEY", "env-api-key")
    monkeypatch.setenv("ICAV2_ACCESS_TOKEN", JWT)
    # Environment only: the same choice Session.from_env makes (the JWT wins).
    assert isinstance(runtime().auth(), aioica.BearerAuth)
    assert isinstance(aioica.Session.from_env().auth, aioica.BearerAuth)
    monkeypatch.delenv("ICAV2_ACCESS_TOKEN")
    assert isinstance(runtime().auth(), aioica.ApiKeyAuth)
    assert isinstance(aioica.Session.from_env().auth, aioica.ApiKeyAuth)
    # Options win over the environment, in the same order among themselves.
    monkeypatch.setenv("ICAV2_ACCESS_TOKEN", JWT)
    assert isinstance(runtime("--api-key", "opt-api-key").auth(), aioica.ApiKeyAuth)
    both = runtime("--api-key", "opt-api-key", "--access-token", JWT)
    assert isinstance(both.auth(), aioica.BearerAuth)


def test_unusable_credential_names_its_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = "secret-value-1234\x01"
    monkeypatch.setenv("ICAV2_X_API_KEY", bad)
    code, _, err = run(capsys, "sessions", "list", PROJECT)
    assert code == 3
    line = error_line(err)
    assert "ICAV2_X_API_KEY" in line and "secret-value-1234" not in line
    with pytest.raises(aioica.ConfigurationError, match="ICAV2_X_API_KEY") as info:
        aioica.Session.from_env()
    assert "secret-value-1234" not in str(info.value)

    code, _, err = run(capsys, "--api-key", bad, "sessions", "list", PROJECT)
    assert code == 3
    assert "--api-key" in error_line(err)
