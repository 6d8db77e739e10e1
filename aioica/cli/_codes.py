"""Exit codes (one table: the help text, the docs and :func:`classify` all derive from it) and
the one-line message each failure gets."""

from __future__ import annotations

import errno
import socket
import textwrap
from typing import NamedTuple

from .._config import ConfigurationError
from .._errors import (
    _HINTS,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ICAError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    TokenError,
)

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_AUTH",
    "EXIT_CODES",
    "EXIT_CODES_HELP",
    "EXIT_CONFIG",
    "EXIT_INTERRUPTED",
    "EXIT_NETWORK",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "ExitCode",
    "UsageError",
    "classify",
    "exit_codes_markdown",
]


class ExitCode(NamedTuple):
    """One row of the exit-code table."""

    code: int
    meaning: str


EXIT_OK = 0
EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_AUTH = 4
EXIT_NOT_FOUND = 5
EXIT_NETWORK = 6
EXIT_INTERRUPTED = 130

#: Every exit status of the ``aioica`` command, with what it means.
EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(EXIT_OK, "success"),
    ExitCode(
        EXIT_API_ERROR,
        "API error (other HTTP error status, unusable response) or other failure; sessions "
        "that failed under `export --keep-going`; sessions `sync` could not fetch",
    ),
    ExitCode(EXIT_USAGE, "bad arguments or usage"),
    ExitCode(
        EXIT_CONFIG,
        "no credentials or configuration error (bad base URL, missing optional extra, a `sync` "
        "database that cannot be used)",
    ),
    ExitCode(EXIT_AUTH, "authentication or permission refused (HTTP 401/403, no token)"),
    ExitCode(EXIT_NOT_FOUND, "not found (HTTP 404: unknown project or workflow session)"),
    ExitCode(EXIT_NETWORK, "network error or timeout (ICA could not be reached)"),
    ExitCode(EXIT_INTERRUPTED, "interrupted (Ctrl-C); output written so far is complete lines"),
)


def _help_table() -> str:
    lines = ["exit codes:"]
    for row in EXIT_CODES:
        text = row.meaning.replace("`", "")
        wrapped = textwrap.wrap(text, width=73)
        lines.append(f"  {row.code:<4} {wrapped[0]}")
        lines.extend(f"       {more}" for more in wrapped[1:])
    return "\n".join(lines)


def exit_codes_markdown() -> str:
    """The exit-code table as Markdown (the README holds exactly this)."""
    rows = ["| exit code | meaning |", "|---|---|"]
    rows += [f"| {row.code} | {row.meaning} |" for row in EXIT_CODES]
    return "\n".join(rows)


def exit_codes_rst() -> str:
    """The exit-code table as a bullet list (the package docstring)."""
    return "\n".join(f"* {row.code} — {row.meaning.replace('`', '``')}" for row in EXIT_CODES)


EXIT_CODES_HELP = (
    """\
environment:
  ICAV2_X_API_KEY      API key (sent as X-API-Key)
  ICAV2_ACCESS_TOKEN   JWT (sent as a Bearer token; wins over the API key)
  ICAV2_BASE_URL       full base URL, e.g. https://ica.illumina.com/ica/rest
  ICAV2_SERVER_URL     bare host, e.g. ica.illumina.com
  ICAV2_PROJECT_ID     default PROJECT

"""
    + _help_table()
    + """

try it without an ICA account:  aioica demo
"""
)


class UsageError(Exception):
    """A problem with the command line found after parsing (exit code 2)."""


# What a person at the command line can do about an HTTP error (replacing the library's hint,
# which speaks to programs: "the auth= passed to the Session").
_CLI_HINTS = {
    401: "check ICAV2_X_API_KEY / ICAV2_ACCESS_TOKEN or --api-key / --access-token; a JWT may "
    "have expired",
    404: "check the project id and the workflow session id, and that your tenant owns them",
}


def _status_message(exc: APIStatusError) -> str:
    text = str(exc)
    hint = _CLI_HINTS.get(exc.status_code)
    if hint is None:
        return text
    library = _HINTS.get(exc.status_code)
    if library and f" ({library})" in text:
        return text.replace(f" ({library})", f" ({hint})", 1)
    return f"{text} ({hint})"


def _refused(exc: BaseException) -> BaseException | None:
    """The ``ConnectionRefusedError`` or resolver error behind a connection error, if any."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError | socket.gaierror):
            return e
        if isinstance(e, OSError) and e.errno == errno.ECONNREFUSED:
            return e
        inner = getattr(e, "exceptions", None)
        if isinstance(inner, tuple):
            todo.extend(x for x in inner if isinstance(x, BaseException))
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return None


def _connection_message(exc: APIConnectionError, where: str) -> str:
    """Connection failures said plainly (the transports' own texts name SSL settings even for
    plain http)."""
    cause = _refused(exc)
    url = exc.request.url if exc.request is not None else None
    if cause is None or url is None:
        return f"cannot reach {where}: {exc}"
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    attempts = f" after {exc.attempts} attempts" if exc.attempts > 1 else ""
    if isinstance(cause, socket.gaierror):
        return f"cannot reach {where}: cannot resolve the host name {url.host}{attempts}"
    return (
        f"cannot reach {where}: connection refused to {host}:{port}{attempts}; nothing is "
        "listening there, check the base URL"
    )


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
        return EXIT_AUTH, f"authentication failed: {_status_message(exc)}"
    if isinstance(exc, PermissionDeniedError):
        return EXIT_AUTH, f"permission denied: {exc}"
    if isinstance(exc, TokenError):
        return EXIT_AUTH, f"cannot obtain a token: {exc}"
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND, f"not found: {_status_message(exc)}"
    if isinstance(exc, APITimeoutError):
        return EXIT_NETWORK, f"timed out talking to {where}: {exc}"
    if isinstance(exc, APIConnectionError):
        return EXIT_NETWORK, _connection_message(exc, where)
    if isinstance(exc, (APIError, ICAError)):
        return EXIT_API_ERROR, str(exc)
    return EXIT_API_ERROR, (
        f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
    )
