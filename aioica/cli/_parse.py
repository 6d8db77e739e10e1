"""The ``aioica`` argument parser: global options (accepted before or after the command), one
sub-command per handler."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from .._export import PARTS
from .._version import __version__
from ..models import StatusV4
from ._codes import EXIT_CODES_HELP, EXIT_USAGE
from ._demo import DEMO_OUTPUT, cmd_demo
from ._export import cmd_export
from ._runtime import Runtime, one_line, scrub
from ._sessions import (
    cmd_analyses,
    cmd_sessions_configurations,
    cmd_sessions_inputs,
    cmd_sessions_list,
    status_word,
)
from ._sync import cmd_sync

__all__ = ["build_parser"]

_STATUSES = ", ".join(StatusV4)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose error messages never echo a secret given on the command line."""

    def __init__(self, *args: Any, secrets: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secrets = list(secrets)

    def error(self, message: str) -> NoReturn:
        # One line, not argparse's usage block: the hint says where the full usage is.
        text = one_line(scrub(message, self.secrets))
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
        type=status_word,
        metavar="S",
        help=f"only {what} with this status (repeatable): {_STATUSES}",
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
        group: Any, name: str, help: str, handler: Callable[[Runtime], Awaitable[int]] | None
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
        cmd_sessions_list,
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
        ("inputs", "the inputs of one workflow session", cmd_sessions_inputs),
        (
            "configurations",
            "the configurations of one workflow session",
            cmd_sessions_configurations,
        ),
    ):
        sub = command(session_commands, name, what, handler)
        project_arg(sub)
        sub.add_argument("session_id", metavar="SESSION_ID", help="workflow session id")

    analyses = command(
        commands, "analyses", "the analyses a workflow session orchestrated", cmd_analyses
    )
    project_arg(analyses)
    analyses.add_argument("session_id", metavar="SESSION_ID", help="workflow session id (UUID)")
    analyses.add_argument(
        "--status",
        action="append",
        type=status_word,
        metavar="S",
        help=f"only analyses with this status (repeatable): {_STATUSES}",
    )

    export = command(
        commands,
        "export",
        "every workflow session with its inputs, configurations and analyses, one JSON "
        "object per session per line",
        cmd_export,
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
        cmd_sync,
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
        cmd_demo,
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
