"""The ``aioica`` command (also ``python -m aioica``): ICA workflow sessions from a shell.

Commands::

    aioica sessions list [PROJECT] [--status S] [--user-reference R] [--user-tag T]
                         [--technical-tag T] [--sort F] [--limit N] [--v3]
    aioica sessions inputs [PROJECT] SESSION_ID
    aioica sessions configurations [PROJECT] SESSION_ID
    aioica analyses [PROJECT] SESSION_ID [--status S]
    aioica export [PROJECT] [-o FILE [--resume]] [--keep-going]
                  [--include inputs,configurations,analyses] [--concurrency N]
                  [--status S] [--user-reference R] [--user-tag T] ...
    aioica sync DB [PROJECT] [--full] [--concurrency N]
    aioica fake-server [--port N] [--sessions N] [--latency-ms MS] ...
    aioica demo [--sessions N] [--analyses N] [--latency-ms MS] [--output FILE] [--sync DB]

PROJECT defaults to ``ICAV2_PROJECT_ID``. Credentials come from ``--access-token`` /
``--api-key`` or else ``ICAV2_ACCESS_TOKEN`` / ``ICAV2_X_API_KEY``; the base URL from
``--base-url``, ``ICAV2_BASE_URL`` or ``ICAV2_SERVER_URL`` (default: ICA's public endpoint).
Secrets are never printed, not even with ``--debug``.

Output (``--format``): ``jsonl`` (one wire-shaped JSON object per line, the default when stdout
is not a terminal), ``json`` (one array, written incrementally: output cut short lacks the
closing ``]``) or ``table`` (fixed-width, fits 80 columns; the default on a terminal). Items are
printed as they arrive. A progress bar is drawn on stderr for ``sessions list``, ``export``,
``sync`` and ``demo`` when stderr is a terminal (``--quiet`` turns it off, ``--progress``
forces it).

Exit codes:

* 0 — success
* 1 — API error (an HTTP error status not listed below, an unusable response) or another failure;
  also sessions that failed under ``export --keep-going`` (reported one line each)
* 2 — bad arguments or usage
* 3 — no credentials, or another configuration error (bad base URL, missing optional extra)
* 4 — authentication or permission refused (HTTP 401/403, a token that cannot be obtained)
* 5 — not found (HTTP 404: unknown project or workflow session)
* 6 — network error or timeout (ICA could not be reached)
* 130 — interrupted (Ctrl-C); everything already written is complete lines
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, NoReturn, Protocol

import anyio

from ._auth import ApiKeyAuth, BearerAuth
from ._config import ConfigurationError, env_base_url
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ICAError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    TokenError,
)
from ._export import PARTS, ExportRecord
from ._paging import page_items
from ._resume import ExportFileError, prepare_resume
from ._retry import RetryPolicy
from ._session import Session
from ._text import inert
from ._version import __version__
from .models import AnalysisQueryParameters

if TYPE_CHECKING:
    import httpx

__all__ = ["main"]

EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AUTH = 4
EXIT_NOT_FOUND = 5
EXIT_NETWORK = 6
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
environment:
  ICAV2_X_API_KEY      API key (sent as X-API-Key)
  ICAV2_ACCESS_TOKEN   JWT (sent as a Bearer token; wins over the API key)
  ICAV2_BASE_URL       full base URL, e.g. https://ica.illumina.com/ica/rest
  ICAV2_SERVER_URL     bare host, e.g. ica.illumina.com
  ICAV2_PROJECT_ID     default PROJECT

exit codes:
  0    success
  1    API error (other HTTP error status, unusable response) or other failure;
       sessions that failed under export --keep-going
  2    bad arguments or usage
  3    no credentials or configuration error
  4    authentication or permission refused (HTTP 401/403)
  5    not found (HTTP 404)
  6    network error or timeout
  130  interrupted (Ctrl-C); output written so far is complete lines

try it without an ICA account:  aioica demo
"""

DEMO_OUTPUT = "aioica-demo-export.jsonl"
DEMO_PROJECT = "demo-project"
_SECRET_WORDS = ("key", "token", "secret", "password")
_MIN_SECRET = 4
# A --debug traceback is long by nature, but still bounded.
_MAX_TRACE = 100_000
# V3 and V4 spell three statuses differently; accept either with either endpoint.
_V3_ONLY = {
    "INPROGRESS": "IN_PROGRESS",
    "AWAITINGINPUT": "AWAITING_INPUT",
    "FAILEDFINAL": "FAILED_FINAL",
}
_V4_ONLY = {v: k for k, v in _V3_ONLY.items()}


class UsageError(Exception):
    """A problem with the command line found after parsing (exit code 2)."""


# -- secrets --------------------------------------------------------------------------------


def _argv_secrets(argv: Sequence[str]) -> list[str]:
    """Values given to any option whose name suggests a secret (typos and prefixes included)."""
    found: list[str] = []
    for i, token in enumerate(argv):
        name, eq, value = token.partition("=")
        if not name.startswith("--") or not any(w in name.lower() for w in _SECRET_WORDS):
            continue
        if eq:
            found.append(value)
        elif i + 1 < len(argv):
            found.append(argv[i + 1])
    return found


def _env_secrets() -> list[str]:
    return [os.environ.get(n, "") for n in ("ICAV2_X_API_KEY", "ICAV2_ACCESS_TOKEN")]


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted({s.strip() for s in secrets}, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, "***")
    return text


# -- argument parsing -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose error messages never echo a secret given on the command line."""

    def __init__(self, *args: Any, secrets: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secrets = list(secrets)

    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the hint says where the full usage is.
        text = _one_line(_scrub(message, self.secrets))
        self.exit(EXIT_USAGE, f"{self.prog}: error: {text} (see: {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _include(text: str) -> tuple[str, ...]:
    parts = [p.strip().lower() for p in text.split(",") if p.strip()]
    if parts == ["none"]:
        return ()
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)} (or none)"
        )
    return tuple(p for p in PARTS if p in parts)


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options accepted before or after the command (after wins)."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    g = parser.add_argument_group("connection and output options")
    g.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help="ICA REST root (default: $ICAV2_BASE_URL, $ICAV2_SERVER_URL or ICA's public URL)",
    )
    g.add_argument(
        "--api-key",
        metavar="KEY",
        default=default(None),
        help="API key; prefer $ICAV2_X_API_KEY (command lines are visible to other users)",
    )
    g.add_argument(
        "--access-token",
        metavar="JWT",
        default=default(None),
        help="JWT sent as Bearer; prefer $ICAV2_ACCESS_TOKEN",
    )
    g.add_argument(
        "--format",
        choices=("jsonl", "json", "table"),
        default=default(None),
        help="output format (default: table on a terminal, else jsonl)",
    )
    g.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="no progress bar, no summary on stderr",
    )
    g.add_argument(
        "--progress",
        action="store_true",
        default=default(False),
        help="draw the progress bar even when stderr is not a terminal",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="show tracebacks and aioica's debug log (secrets are still never shown)",
    )
    g.add_argument(
        "--max-concurrency",
        type=_positive_int,
        metavar="N",
        default=default(None),
        help="HTTP requests in flight at once (default 32)",
    )
    g.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        default=default(None),
        help="per-request timeout (default: connect 10 s, read 60 s)",
    )
    g.add_argument(
        "--max-attempts",
        type=_positive_int,
        metavar="N",
        default=default(None),
        help="tries per request, retries included (default 5; 1 disables retries)",
    )
    g.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default=default("asyncio"),
        help=argparse.SUPPRESS,
    )


def _filter_options(parser: argparse.ArgumentParser, *, what: str) -> None:
    parser.add_argument(
        "--status",
        action="append",
        metavar="S",
        help=f"only {what} with this status (repeatable; e.g. FAILED_FINAL)",
    )
    parser.add_argument(
        "--user-reference", metavar="R", help=f"only {what} whose user reference contains R"
    )
    parser.add_argument(
        "--user-tag", action="append", metavar="T", help=f"only {what} with this user tag"
    )
    parser.add_argument(
        "--technical-tag",
        action="append",
        metavar="T",
        help=f"only {what} with this technical tag",
    )


def build_parser(prog: str = "aioica", secrets: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The ``aioica`` argument parser."""
    parser = _Parser(
        prog=prog,
        description="Query and export Illumina Connected Analytics workflow sessions.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        secrets=secrets,
    )
    parser.add_argument("--version", action="version", version=f"aioica {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        group: Any, name: str, help: str, handler: Callable[[_Runtime], Awaitable[int]] | None
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(
            name,
            help=help,
            description=help,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            secrets=secrets,
        )
        if handler is not None:
            _global_options(sub, suppress=True)
            sub.set_defaults(handler=handler)
        return sub

    def project_arg(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("project", nargs="?", metavar="PROJECT", help="default $ICAV2_PROJECT_ID")

    sessions = command(commands, "sessions", "workflow sessions of a project", None)
    session_commands = sessions.add_subparsers(
        dest="sessions_command", metavar="SUBCOMMAND", required=True
    )
    listing = command(
        session_commands,
        "list",
        "list workflow sessions (V4 search; --v3 for the deprecated V3 list)",
        _cmd_sessions_list,
    )
    project_arg(listing)
    _filter_options(listing, what="sessions")
    listing.add_argument(
        "--sort",
        metavar="F",
        help="order by F (reference, userReference, pipeline, status, startDate, endDate, "
        "workflow; add ' desc'); uses offset paging, capped at 200,000 rows",
    )
    listing.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N sessions")
    listing.add_argument(
        "--v3", action="store_true", help="use GET .../workflowSessions (V3 items, deprecated)"
    )
    for name, what, handler in (
        ("inputs", "the inputs of one workflow session", _cmd_sessions_inputs),
        ("configurations", "the configurations of one workflow session", _cmd_sessions_configs),
    ):
        sub = command(session_commands, name, what, handler)
        project_arg(sub)
        sub.add_argument("session_id", metavar="SESSION_ID", help="workflow session id")

    analyses = command(
        commands, "analyses", "the analyses a workflow session orchestrated", _cmd_analyses
    )
    project_arg(analyses)
    analyses.add_argument("session_id", metavar="SESSION_ID", help="workflow session id (UUID)")
    analyses.add_argument(
        "--status", action="append", metavar="S", help="only analyses with this status"
    )

    export = command(
        commands,
        "export",
        "every workflow session with its inputs, configurations and analyses, one JSON "
        "object per session per line",
        _cmd_export,
    )
    project_arg(export)
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    export.add_argument(
        "--include",
        type=_include,
        default=PARTS,
        metavar="PARTS",
        help="comma-separated parts to fetch per session (default "
        "inputs,configurations,analyses; 'none' for the sessions only)",
    )
    export.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="sessions in progress at once (default: --max-concurrency)",
    )
    export.add_argument(
        "--resume",
        action="store_true",
        help="append to FILE (-o, JSON Lines): drop a partial last line a killed run left, "
        "skip every session already complete in FILE (a newline-ended JSON object with "
        "workflowSession.id and exactly this run's --include parts), fetch the rest; use the "
        "--include and filters of the run that wrote FILE",
    )
    export.add_argument(
        "--keep-going",
        action="store_true",
        help="a session that still fails after retries does not stop the export: it is "
        "reported on stderr (one line each) and left out of the output, so a later --resume "
        "fetches it; exit 1 at the end if any failed",
    )
    _filter_options(export, what="sessions")

    sync = command(
        commands,
        "sync",
        "bring a local SQLite mirror of the project up to date, fetching only what may have "
        "changed (exit 1 if some session could not be fetched: the next sync retries it)",
        _cmd_sync,
    )
    sync.add_argument("db", metavar="DB", help="SQLite file (WAL mode: readable during a sync)")
    project_arg(sync)
    sync.add_argument(
        "--full",
        action="store_true",
        help="fetch every session's details again, changed or not",
    )
    sync.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="sessions in progress at once (default: --max-concurrency)",
    )

    fake = commands.add_parser(
        "fake-server",
        help="serve a fake ICA on a local port, to try aioica without an account",
        add_help=False,
        secrets=secrets,
    )
    fake.set_defaults(handler=None)

    demo = command(
        commands,
        "demo",
        "export a fake ICA project through the real HTTP stack and print a summary (no "
        "credentials, no network)",
        _cmd_demo,
    )
    demo.add_argument(
        "--sessions", type=_positive_int, default=3000, metavar="N", help="default 3000"
    )
    demo.add_argument(
        "--analyses",
        type=_positive_int,
        default=3,
        metavar="N",
        help="average analyses per session (default 3)",
    )
    demo.add_argument(
        "--latency-ms",
        type=_non_negative_float,
        default=20.0,
        metavar="MS",
        help="server latency per request (default 20)",
    )
    demo.add_argument(
        "--output", "-o", default=DEMO_OUTPUT, metavar="FILE", help=f"default ./{DEMO_OUTPUT}"
    )
    demo.add_argument(
        "--sync",
        metavar="DB",
        help="instead of exporting: mirror the project into the SQLite file DB, move the fake's "
        "data one step forward, and sync again (shows the requests each run took)",
    )
    return parser


# -- runtime: configuration, output, progress -----------------------------------------------


class _Bar(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def skip(self, n: int = 1) -> None: ...

    def fail(self, n: int = 1) -> None: ...

    def line(self, text: str) -> None: ...

    def set_total(self, total: int | None) -> None: ...


class _NoBar:
    def advance(self, n: int = 1) -> None:
        pass

    def skip(self, n: int = 1) -> None:
        pass

    def fail(self, n: int = 1) -> None:
        pass

    def line(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def set_total(self, total: int | None) -> None:
        pass


class _Runtime:
    """What a command needs: parsed arguments, resolved settings, streams, secrets."""

    def __init__(self, args: argparse.Namespace, secrets: Sequence[str]) -> None:
        self.args = args
        self.secrets = list(secrets)
        self.interrupted = False
        self.base_url = args.base_url or env_base_url() or None

    # settings

    def project(self) -> str:
        project = self.args.project or os.environ.get("ICAV2_PROJECT_ID", "").strip()
        if not project:
            raise UsageError("no PROJECT given and ICAV2_PROJECT_ID is not set")
        return str(project)

    def auth(self) -> httpx.Auth:
        a = self.args
        env_token = os.environ.get("ICAV2_ACCESS_TOKEN", "").strip()
        env_key = os.environ.get("ICAV2_X_API_KEY", "").strip()
        choices = (
            (a.access_token, BearerAuth, "--access-token"),
            (a.api_key, ApiKeyAuth, "--api-key"),
            (env_token, BearerAuth, "ICAV2_ACCESS_TOKEN"),
            (env_key, ApiKeyAuth, "ICAV2_X_API_KEY"),
        )
        for value, kind, source in choices:
            if value:
                try:
                    return kind(value)
                except (TypeError, ValueError) as exc:
                    # The library's messages name the problem, never the value.
                    raise ConfigurationError(f"{source}: {exc}") from None
        raise ConfigurationError(
            "no ICA credentials: set ICAV2_X_API_KEY (or ICAV2_ACCESS_TOKEN), or pass "
            "--api-key/--access-token. To try aioica without an account: aioica demo"
        )

    def session(self, auth: httpx.Auth | None = None, base_url: str | None = None) -> Session:
        a = self.args
        kwargs: dict[str, Any] = {}
        if a.max_concurrency is not None:
            kwargs["max_concurrency"] = a.max_concurrency
        if a.timeout is not None:
            kwargs["timeout"] = a.timeout
        if a.max_attempts is not None:
            kwargs["retry"] = RetryPolicy(max_attempts=a.max_attempts)
        return Session(
            auth if auth is not None else self.auth(),
            base_url=base_url or self.base_url,
            **kwargs,
        )

    # output

    def format_for(self, stream: IO[str]) -> str:
        fmt: str | None = self.args.format
        if fmt is None:
            fmt = "table" if _isatty(stream) else "jsonl"
        return fmt

    def progress_wanted(self) -> bool:
        if self.args.quiet:
            return False
        return bool(self.args.progress) or _isatty(sys.stderr)

    @contextmanager
    def progress(
        self,
        description: str,
        unit: str,
        requests: Callable[[], int],
        *,
        to_stdout: bool,
        bar_width: int = 24,
    ) -> Iterator[_Bar]:
        """A progress bar on stderr when wanted and rich is installed, else a do-nothing one."""
        if not self.progress_wanted():
            yield _NoBar()
            return
        try:
            from ._progress import ProgressBar
        except ImportError:  # rich (the `cli` extra) is not installed: no bar
            yield _NoBar()
            return
        bar = ProgressBar(
            description,
            unit,
            requests,
            force_terminal=bool(self.args.progress),
            # Rows printed on the same terminal go above the bar instead of through it.
            redirect_stdout=to_stdout and _isatty(sys.stdout) and _isatty(sys.stderr),
            bar_width=bar_width,
        )
        with bar:
            yield bar

    def note(self, message: str) -> None:
        """A line for humans on stderr (suppressed by --quiet)."""
        if not self.args.quiet:
            print(inert(_scrub(message, self.secrets)), file=sys.stderr, flush=True)


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, AttributeError):  # closed or not a real stream
        return False


class _StdoutProxy:
    """``sys.stdout`` looked up at every write, so a progress bar's redirection applies."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return _isatty(sys.stdout)


def _short(value: Any, width: int, *, prefix: bool = False) -> str:
    """``value`` as text of at most ``width`` characters, cut in the middle if needed (names
    differ at both ends: a run id first, a sample last), or kept to its start (ids)."""
    text = "-" if value is None or value == "" else " ".join(str(value).split())
    # Server data printed on a terminal: escape sequences in it must not act.
    text = inert(text, max(width, 3) * 8)
    if len(text) <= width:
        return text
    if prefix:
        return text[:width]
    if width <= 3:
        return text[:width]
    head = (width - 3 + 1) // 2
    tail = width - 3 - head
    return text[:head] + "..." + (text[-tail:] if tail else "")


def _when(value: Any) -> str:
    return str(value)[:16].replace("T", " ") if value else "-"


def _count(value: Any) -> str:
    return "-" if value is None else str(len(value))


# Columns per kind: (header, width); width 0 is the one flexible column (the rest of the line).
_COLUMNS: dict[str, list[tuple[str, int]]] = {
    "sessions": [("ID", 8), ("STATUS", 18), ("STARTED (UTC)", 16), ("USER REFERENCE", 0)],
    "analyses": [("ID", 8), ("STATUS", 18), ("STARTED (UTC)", 16), ("USER REFERENCE", 0)],
    "inputs": [("CODE", 24), ("TYPE", 6), ("NAME", 0)],
    "configurations": [("NAME", 28), ("VALUES", 0)],
    "export": [("ID", 8), ("STATUS", 18), ("IN", 3), ("CFG", 3), ("AN", 3), ("USER REFERENCE", 0)],
}
_GAP = "  "
_ID_FIRST = frozenset({"sessions", "analyses", "export"})
_ID_FULL = 36


def _rows(kind: str, item: dict[str, Any]) -> list[list[Any]]:
    """The table cells of one wire-shaped item (some items make several rows)."""
    if kind == "sessions":
        return [
            [
                item.get("id"),
                item.get("status"),
                _when(item.get("startDate")),
                item.get("userReference"),
            ]
        ]
    if kind == "analyses":
        a = item.get("analysis") or {}
        return [[a.get("id"), a.get("status"), _when(a.get("startDate")), a.get("userReference")]]
    if kind == "inputs":
        data = item.get("analysisData") or []
        if not data:
            return [[item.get("code"), "-", "-"]]
        return [
            [item.get("code"), d.get("dataType"), d.get("name") or d.get("dataId")] for d in data
        ]
    if kind == "configurations":
        values = item.get("values")
        return [[item.get("name"), ", ".join(map(str, values)) if values else "-"]]
    ws = item.get("workflowSession") or {}
    return [
        [
            ws.get("id"),
            ws.get("status"),
            _count(item.get("inputs")),
            _count(item.get("configurations")),
            _count(item.get("analyses")),
            ws.get("userReference"),
        ]
    ]


class _Writer:
    """Streams items in one of the three formats; every write ends on a complete line."""

    def __init__(self, stream: Any, fmt: str, kind: str) -> None:
        self.stream = stream
        self.fmt = fmt
        self.kind = kind
        self.count = 0
        self.widths: list[int] = []
        if fmt == "table":
            columns = _COLUMNS[kind]
            total = shutil.get_terminal_size().columns if _isatty(stream) else 80
            total = max(60, total)
            fixed = sum(w for _, w in columns) + len(_GAP) * (len(columns) - 1)
            flex = total - fixed
            self.widths = [w or max(10, flex) for _, w in columns]
            if columns[0][0] == "ID" and flex >= _ID_FULL - columns[0][1] + 20:
                # A wide terminal has room for full ids, which other commands accept.
                self.widths[0] = _ID_FULL
                self.widths[-1] = flex - (_ID_FULL - columns[0][1])

    def _emit(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _line(self, cells: Sequence[Any]) -> str:
        ids = self.kind in _ID_FIRST
        parts = [
            _short(c, w, prefix=ids and i == 0)
            for i, (c, w) in enumerate(zip(cells, self.widths, strict=False))
        ]
        padded = [p.ljust(w) for p, w in zip(parts[:-1], self.widths, strict=False)] + [parts[-1]]
        return _GAP.join(padded).rstrip()

    def start(self) -> None:
        if self.fmt == "json":
            self._emit("[")
        elif self.fmt == "table":
            self._emit(self._line([h for h, _ in _COLUMNS[self.kind]]) + "\n")

    def write(self, item: dict[str, Any]) -> None:
        if self.fmt == "table":
            self._emit("".join(self._line(r) + "\n" for r in _rows(self.kind, item)))
        else:
            text = json.dumps(item, separators=(",", ":"))
            if self.fmt == "json":
                text = ("\n" if self.count == 0 else ",\n") + text
            else:
                text += "\n"
            # One write per item: an interruption can only fall between complete lines.
            self._emit(text)
        self.count += 1

    def finish(self) -> None:
        if self.fmt == "json":
            self._emit("\n]\n" if self.count else "]\n")


def _query(args: argparse.Namespace, *, v3: bool = False) -> dict[str, Any]:
    """Filter options as AnalysisQueryParameters fields (V4) or V3 query parameters."""
    statuses = [_status(s, v3=v3) for s in (args.status or [])]
    user_tags = list(getattr(args, "user_tag", None) or [])
    tech_tags = list(getattr(args, "technical_tag", None) or [])
    user_ref = getattr(args, "user_reference", None)
    if v3:
        if len(statuses) > 1:
            raise UsageError("--v3 takes one --status (the V3 list filters on a single status)")
        return {
            "status": statuses[0] if statuses else None,
            "userreference": user_ref,
            "usertag": ",".join(user_tags) or None,
            "technicaltag": ",".join(tech_tags) or None,
        }
    fields = {
        "status": statuses or None,
        "user_reference": user_ref,
        "user_tags": user_tags or None,
        "technical_tags": tech_tags or None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _status(text: str, *, v3: bool) -> str:
    value = text.strip().upper().replace("-", "_")
    if not value:
        raise UsageError("--status must not be empty")
    return _V4_ONLY.get(value, value) if v3 else _V3_ONLY.get(value, value)


def _aqp(args: argparse.Namespace) -> AnalysisQueryParameters | None:
    fields = _query(args)
    return AnalysisQueryParameters(**fields) if fields else None


# -- commands -------------------------------------------------------------------------------


async def _cmd_sessions_list(rt: _Runtime) -> int:
    args = rt.args
    project = rt.project()
    v3_query = _query(args, v3=True) if args.v3 else None
    aqp = None if args.v3 else _aqp(args)
    out = _StdoutProxy()
    writer = _Writer(out, rt.format_for(sys.stdout), "sessions")
    async with rt.session() as ica:
        if v3_query is not None:
            paginator: Any = ica.get_workflow_sessions(
                project, sort=args.sort, max_items=args.limit, raw=True, **v3_query
            )
        else:
            paginator = ica.search_workflow_sessions(
                project,
                sort=args.sort,
                analysis_query_parameters=aqp,
                max_items=args.limit,
                raw=True,
            )
        with rt.progress("list", "sessions", lambda: ica.requests_sent, to_stdout=True) as bar:
            writer.start()
            async with paginator.pages() as pages:
                first = True
                async for page in pages:
                    items = page_items(page)
                    if first:
                        bar.set_total(_estimate_total(page, len(items), args.limit))
                        first = False
                    for item in items:
                        if args.limit is not None and writer.count >= args.limit:
                            break
                        writer.write(item)
                        bar.advance()
                    if args.limit is not None and writer.count >= args.limit:
                        break
            writer.finish()
    return EXIT_OK


def _estimate_total(page: dict[str, Any], first_items: int, limit: int | None) -> int | None:
    total = page.get("totalItemCount")
    if not isinstance(total, int):
        remaining = page.get("remainingRecords")
        if isinstance(remaining, int) and not isinstance(remaining, bool):
            total = first_items + remaining
        elif not page.get("nextPageToken"):
            total = first_items
        else:
            return None
    return min(total, limit) if limit is not None else total


async def _cmd_sessions_inputs(rt: _Runtime) -> int:
    project = rt.project()
    async with rt.session() as ica:
        result = await ica.get_workflow_session_inputs(project, rt.args.session_id, raw=True)
    _write_all(rt, "inputs", result.get("items") or [])
    return EXIT_OK


async def _cmd_sessions_configs(rt: _Runtime) -> int:
    project = rt.project()
    async with rt.session() as ica:
        result = await ica.get_workflow_session_configurations(
            project, rt.args.session_id, raw=True
        )
    _write_all(rt, "configurations", result.get("items") or [])
    return EXIT_OK


def _write_all(rt: _Runtime, kind: str, items: list[dict[str, Any]]) -> None:
    writer = _Writer(_StdoutProxy(), rt.format_for(sys.stdout), kind)
    writer.start()
    for item in items:
        writer.write(item)
    writer.finish()


async def _cmd_analyses(rt: _Runtime) -> int:
    args = rt.args
    project = rt.project()
    statuses = [_status(s, v3=False) for s in (args.status or [])]
    aqp = AnalysisQueryParameters(status=list(statuses)) if statuses else None
    writer = _Writer(_StdoutProxy(), rt.format_for(sys.stdout), "analyses")
    async with rt.session() as ica:
        paginator = ica.search_orchestrated_analyses(
            project, args.session_id, analysis_query_parameters=aqp, raw=True
        )
        writer.start()
        async with paginator.__aiter__() as items:
            async for item in items:
                writer.write(item)
        writer.finish()
    return EXIT_OK


@contextmanager
def _open_output(path: str | None, *, append: bool = False) -> Iterator[Any]:
    if path is None or path == "-":
        yield _StdoutProxy()
        return
    try:
        stream = open(path, "a" if append else "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream


class _Exported:
    """What an export run did."""

    def __init__(self) -> None:
        self.sessions = 0
        self.analyses = 0
        self.skipped = 0
        self.failed = 0


async def _export_into(
    ica: Session,
    project: str,
    writer: _Writer,
    bar: _Bar,
    *,
    include: Sequence[str],
    concurrency: int | None,
    aqp: AnalysisQueryParameters | None,
    skip: Collection[str] = (),
    on_failure: Callable[[ExportRecord], str] | None = None,
) -> _Exported:
    """Run the export and write each good record. With ``on_failure``, a failed session is
    not written and does not end the export: the line ``on_failure`` makes of it goes to
    stderr (above the bar)."""
    done = _Exported()
    export = ica.export_workflow_sessions(
        project,
        analysis_query_parameters=aqp,
        include=include,
        concurrency=concurrency,
        raw=True,
        skip=skip,
        on_error="raise" if on_failure is None else "record",
    )

    def count_skipped() -> None:
        # The listing runs ahead of the records: catch the bar up with it.
        if export.sessions_skipped > done.skipped:
            bar.skip(export.sessions_skipped - done.skipped)
            done.skipped = export.sessions_skipped

    writer.start()
    async with export:
        async for record in export:
            count_skipped()
            if record.error is not None:
                assert on_failure is not None
                done.failed += 1
                bar.fail()
                bar.line(on_failure(record))
                continue
            writer.write(record.to_dict())
            done.sessions += 1
            done.analyses += len(record.analyses or ())
            bar.advance()
        count_skipped()
    writer.finish()
    return done


def _failed_id(record: ExportRecord) -> str | None:
    ws: Any = record.workflow_session
    sid = ws.get("id") if isinstance(ws, dict) else None
    # An id the server sent is printed only when it is plain text (an unusable one is quoted
    # in the error's own message).
    return sid if isinstance(sid, str) and sid.isprintable() and sid.strip() else None


def _error_line(rt: _Runtime, message: str) -> str:
    return f"aioica: error: {_scrub(_one_line(message), rt.secrets)}"


async def _cmd_export(rt: _Runtime) -> int:
    args = rt.args
    project = rt.project()
    aqp = _aqp(args)
    path = None if args.output in (None, "-") else args.output
    already = frozenset[str]()
    if args.resume:
        if path is None:
            raise UsageError("--resume needs -o FILE: it appends to FILE")
        if args.format not in (None, "jsonl"):
            raise UsageError("--resume works with JSON Lines only (--format jsonl)")
        try:
            state = prepare_resume(path, args.include)
        except ExportFileError as exc:
            raise UsageError(str(exc)) from None
        already = state.ids
        if state.existed:
            rt.note(
                f"resuming {path}: {len(state.ids):,} sessions already complete"
                + (
                    f"; dropped a partial last line ({state.dropped:,} bytes)"
                    if state.dropped
                    else ""
                )
            )

    def report(record: ExportRecord) -> str:
        sid = _failed_id(record)
        assert record.error is not None
        _, message = classify(record.error, rt.base_url)
        return _error_line(rt, f"{'session ' + sid if sid else 'a listed session'}: {message}")

    async with rt.session() as ica:
        with _open_output(path, append=args.resume) as stream:
            writer = _Writer(
                stream, rt.format_for(sys.stdout if path is None else stream), "export"
            )
            total = None
            if rt.progress_wanted():
                # One small extra request buys the bar a total (remainingRecords is approximate).
                first: Any = await ica.search_workflow_sessions(
                    project, page_size=1, analysis_query_parameters=aqp, raw=True
                )
                total = _estimate_total(first, len(page_items(first)), None)
            started = time.perf_counter()
            with rt.progress(
                "export",
                "sessions",
                lambda: ica.requests_sent,
                to_stdout=path is None,
                # Room on the line for the skipped and failed counts.
                bar_width=10 if args.resume or args.keep_going else 24,
            ) as bar:
                bar.set_total(total)
                done = await _export_into(
                    ica,
                    project,
                    writer,
                    bar,
                    include=args.include,
                    concurrency=args.concurrency,
                    aqp=aqp,
                    skip=already,
                    on_failure=report if args.keep_going else None,
                )
            wall = time.perf_counter() - started
        rate = done.sessions / wall if wall > 0 else 0
        rt.note(
            f"exported {done.sessions:,} sessions ({done.analyses:,} analyses) in {wall:.1f} s: "
            f"{rate:,.0f} sessions/s, {ica.requests_sent:,} requests"
            + (f"; skipped {done.skipped:,} already in the file" if args.resume else "")
            + (f"; {done.failed:,} failed" if done.failed else "")
            + (f" -> {path}" if path else "")
        )
    if done.failed:
        several = done.failed != 1
        message = (
            f"{done.failed:,} session{'s' if several else ''} failed and "
            f"{'were' if several else 'was'} not written"
        )
        if path:
            message += (
                f" to {path}; the same command with --resume fetches {'them' if several else 'it'}"
            )
        print(_error_line(rt, message), file=sys.stderr, flush=True)
        return EXIT_API_ERROR
    return EXIT_OK


def _sync_ticker(bar: _Bar) -> Callable[[str, str], None]:
    """The bar's update per synced session: unchanged ones count as skipped (nothing was
    fetched for them), failed ones as failed."""
    tick = {"unchanged": bar.skip, "failed": bar.fail}

    def on_session(_sid: str, outcome: str) -> None:
        tick.get(outcome, bar.advance)()

    return on_session


async def _cmd_sync(rt: _Runtime) -> int:
    from ._mirror import MirrorError

    args = rt.args
    project = rt.project()
    async with rt.session() as ica:
        total = None
        if rt.progress_wanted():
            first: Any = await ica.search_workflow_sessions(project, page_size=1, raw=True)
            total = _estimate_total(first, len(page_items(first)), None)
        with rt.progress(
            "sync", "sessions", lambda: ica.requests_sent, to_stdout=False, bar_width=10
        ) as bar:
            bar.set_total(total)
            try:
                report = await ica.sync_workflow_sessions(
                    project,
                    args.db,
                    full=args.full,
                    concurrency=args.concurrency,
                    on_session=_sync_ticker(bar),
                )
            except MirrorError as exc:
                raise ConfigurationError(str(exc)) from None
    for failure in report.failures:
        _, message = classify(failure.error, rt.base_url)
        what = f"session {failure.session_id}" if failure.session_id else "a listed session"
        print(_error_line(rt, f"{what}: {message}"), file=sys.stderr, flush=True)
    rt.note(report.summary())
    if not report.complete:
        message = f"{report.failed:,} session(s) not synced; the next sync fetches them again"
        print(_error_line(rt, message), file=sys.stderr, flush=True)
        return EXIT_API_ERROR
    return EXIT_OK


def _absolute(path: str) -> str:
    return os.path.abspath(path)


def _size(path: str) -> int:
    return os.path.getsize(path)


async def _cmd_demo(rt: _Runtime) -> int:
    args = rt.args
    try:
        import uvicorn  # noqa: F401  (the TCP server of the fake)

        from .testing import Dataset, FakeICA, Faults, serve
    except ImportError as exc:
        raise ConfigurationError(
            f"aioica demo needs the 'demo' extra (pip install 'aioica[demo]'): {exc}"
        ) from None
    path = _absolute(args.output)
    fake = FakeICA(
        Dataset(seed=0, projects=[DEMO_PROJECT], sessions=args.sessions, analyses=args.analyses),
        faults=Faults(latency_ms=args.latency_ms, jitter_ms=args.latency_ms / 2),
    )
    rt.note(
        f"Starting a fake ICA with {args.sessions:,} workflow sessions "
        f"(~{args.analyses} analyses each, {args.latency_ms:g} ms latency per request)..."
    )
    if args.sync:
        return await _demo_sync(rt, fake, args.sync)
    async with serve(fake) as url:
        session = rt.session(auth=ApiKeyAuth(fake.api_key), base_url=url)
        async with session as ica:
            rt.note(
                f"Exporting {DEMO_PROJECT} from {url} over HTTP "
                f"({ica.transport_name} transport, {ica.max_concurrency} requests in flight)"
            )
            with _open_output(path) as stream:
                writer = _Writer(stream, "jsonl", "export")
                started = time.perf_counter()
                with rt.progress(
                    "export", "sessions", lambda: ica.requests_sent, to_stdout=False
                ) as bar:
                    bar.set_total(args.sessions)
                    done = await _export_into(
                        ica,
                        DEMO_PROJECT,
                        writer,
                        bar,
                        include=PARTS,
                        concurrency=None,
                        aqp=None,
                    )
                    sessions, analyses = done.sessions, done.analyses
                wall = time.perf_counter() - started
            requests = ica.requests_sent
    size = _size(path)
    rate = sessions / wall if wall > 0 else 0.0
    req_rate = requests / wall if wall > 0 else 0.0
    print(
        "\n".join(
            [
                "aioica demo: full export of a fake ICA project through the real HTTP stack",
                f"  sessions     {sessions:,}",
                f"  analyses     {analyses:,}",
                f"  requests     {requests:,}",
                f"  wall time    {wall:.2f} s",
                f"  throughput   {rate:,.0f} sessions/s ({req_rate:,.0f} requests/s)",
                f"  output       {path} ({size / 1e6:.1f} MB, one JSON object per line)",
                f"Next: head -n 1 {args.output} | python -m json.tool",
            ]
        ),
        flush=True,
    )
    return EXIT_OK


async def _demo_sync(rt: _Runtime, fake: Any, db: str) -> int:
    """``aioica demo --sync DB``: a first sync, the fake's data one step on, a second sync."""
    from ._mirror import MirrorError, SyncReport
    from .testing import serve

    lines = ["aioica demo: a local SQLite mirror of a fake ICA project, kept up to date"]
    async with serve(fake) as url:
        async with rt.session(auth=ApiKeyAuth(fake.api_key), base_url=url) as ica:
            for label in ("sync", "sync again"):
                if label == "sync again":
                    step = fake.advance()
                    lines.append(
                        f"  (the fake moved on: {len(step.progressed[DEMO_PROJECT]):,} sessions "
                        f"progressed, {len(step.added[DEMO_PROJECT]):,} appeared, "
                        f"{len(step.removed[DEMO_PROJECT]):,} disappeared)"
                    )
                with rt.progress(
                    "sync", "sessions", lambda: ica.requests_sent, to_stdout=False, bar_width=10
                ) as bar:
                    try:
                        report: SyncReport = await ica.sync_workflow_sessions(
                            DEMO_PROJECT, db, on_session=_sync_ticker(bar)
                        )
                    except MirrorError as exc:
                        raise ConfigurationError(str(exc)) from None
                lines.append(
                    f"  {label:<11} {report.requests:>7,} requests in {report.elapsed:.2f} s: "
                    f"{report.new:,} new, {report.changed:,} changed,"
                )
                lines.append(
                    f"  {'':<11} {report.refreshed:,} refreshed, {report.unchanged:,} unchanged, "
                    f"{report.removed:,} removed"
                )
    lines.append(f"Next: sqlite3 {db} 'SELECT status, count(*) FROM workflow_sessions GROUP BY 1'")
    print("\n".join(lines), flush=True)
    return EXIT_OK


# -- running --------------------------------------------------------------------------------


async def _watch_sigint(scope: anyio.CancelScope, rt: _Runtime) -> None:
    """Turn Ctrl-C into a cancellation of the work: it then stops at an await, never inside
    a write, so output already written ends on a complete line."""
    if sys.platform == "win32" or threading.current_thread() is not threading.main_thread():
        # No signal receivers there; KeyboardInterrupt still stops the run.
        return
    try:
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                rt.interrupted = True
                scope.cancel()
                return
    except (RuntimeError, ValueError):
        # The event loop cannot install a handler here: KeyboardInterrupt still works.
        return


async def _amain(rt: _Runtime, handler: Callable[[_Runtime], Awaitable[int]]) -> int:
    result = EXIT_OK
    error: BaseException | None = None
    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as work:
            tg.start_soon(_watch_sigint, work, rt)
            try:
                result = await handler(rt)
            except Exception as exc:
                # Re-raised outside the task group, so it is not wrapped in an ExceptionGroup.
                error = exc
        tg.cancel_scope.cancel()
    if rt.interrupted:
        return EXIT_INTERRUPTED
    if error is not None:
        raise error
    return result


def _leaf(exc: BaseException) -> BaseException:
    """The first meaningful exception inside (possibly nested) exception groups."""
    while True:
        inner = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or not inner:
            return exc
        exc = inner[0]


def classify(exc: BaseException, base_url: str | None = None) -> tuple[int, str]:
    """The exit code and the one-line message for an exception."""
    exc = _leaf(exc)
    where = base_url or "ICA"
    if isinstance(exc, UsageError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, ConfigurationError):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, InvalidParameterError):
        return EXIT_USAGE, f"invalid argument: {exc}"
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH, (
            f"authentication failed: {exc} (check ICAV2_X_API_KEY / ICAV2_ACCESS_TOKEN or "
            "--api-key / --access-token)"
        )
    if isinstance(exc, PermissionDeniedError):
        return EXIT_AUTH, f"permission denied: {exc}"
    if isinstance(exc, TokenError):
        return EXIT_AUTH, f"cannot obtain a token: {exc}"
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND, f"not found: {exc}"
    if isinstance(exc, APITimeoutError):
        return EXIT_NETWORK, f"timed out talking to {where}: {exc}"
    if isinstance(exc, APIConnectionError):
        return EXIT_NETWORK, f"cannot reach {where}: {exc}"
    if isinstance(exc, (APIError, ICAError)):
        return EXIT_API_ERROR, str(exc)
    return EXIT_API_ERROR, (
        f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _report(exc: BaseException, rt: _Runtime | None, secrets: Sequence[str], *, debug: bool) -> int:
    code, message = classify(exc, rt.base_url if rt is not None else None)
    # Server text may reach a message: it is shown short, with terminal escapes defused.
    if debug:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(inert(_scrub(trace, secrets), _MAX_TRACE, keep_newlines=True))
    text = inert(_scrub(_one_line(message), secrets))
    print(f"aioica: error: {text}", file=sys.stderr, flush=True)
    return code


def _silence_stdout() -> None:
    # After a broken pipe, flushing at exit would fail again and print a warning.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


@contextmanager
def _debug_logging(debug: bool) -> Iterator[None]:
    """aioica's debug log on stderr while the command runs (and only then: main() may be
    called in process, by tests or other programs, and must leave logging as it found it)."""
    if not debug:
        yield
        return
    logger = logging.getLogger("aioica")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv: Sequence[str] | None = None, *, prog: str = "aioica") -> int:
    """Run the ``aioica`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit
    status (documented in this module's docstring and ``aioica --help``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    secrets = _argv_secrets(argv) + _env_secrets()
    parser = build_parser(prog, secrets)
    if not argv:
        parser.print_help()
        return EXIT_USAGE
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "fake-server":
        from .testing._cli import fake_server_main

        try:
            return fake_server_main(extra)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if extra:
        try:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = bool(args.debug)
    rt = _Runtime(args, secrets)
    try:
        with _debug_logging(debug):
            code = anyio.run(_amain, rt, args.handler, backend=args.backend)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:
        return _report(exc, rt, secrets, debug=debug)
    if code == EXIT_INTERRUPTED:
        rt.note("aioica: interrupted")
    return code
