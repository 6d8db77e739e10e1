"""What every command needs: settings resolved from arguments and the environment, secrets kept
out of output, human notes on stderr and the progress bar."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, Protocol

from .._config import CREDENTIAL_VARIABLES, ConfigurationError, env_auth, env_base_url
from .._retry import RetryPolicy
from .._session import Session
from .._text import inert
from ._codes import UsageError

if TYPE_CHECKING:
    import httpx

__all__ = ["Bar", "Runtime", "argv_secrets", "env_secrets", "isatty", "one_line", "scrub"]

_SECRET_WORDS = ("key", "token", "secret", "password")
_MIN_SECRET = 4
# The command-line options standing for the credential variables (same order of precedence).
_OPTIONS = {"ICAV2_ACCESS_TOKEN": "--access-token", "ICAV2_X_API_KEY": "--api-key"}


# -- secrets --------------------------------------------------------------------------------


def argv_secrets(argv: Sequence[str]) -> list[str]:
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


def env_secrets() -> list[str]:
    """The values of the credential variables."""
    return [os.environ.get(n, "") for n in CREDENTIAL_VARIABLES]


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (of a few characters at least) replaced by ``***``."""
    for secret in sorted({s.strip() for s in secrets}, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, "***")
    return text


def one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def isatty(stream: IO[str] | None) -> bool:
    """Whether ``stream`` is a terminal (a closed or odd stream is not)."""
    try:
        return stream is not None and stream.isatty()
    except (ValueError, AttributeError):
        return False


# -- progress -------------------------------------------------------------------------------


class Bar(Protocol):
    """What commands ask of a progress bar (:class:`~aioica.cli._progress.ProgressBar`)."""

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


# -- the runtime ----------------------------------------------------------------------------


class Runtime:
    """What a command needs: parsed arguments, resolved settings, streams, secrets."""

    def __init__(self, args: argparse.Namespace, secrets: Sequence[str]) -> None:
        self.args = args
        self.secrets = list(secrets)
        self.interrupted = False
        self.base_url = args.base_url or env_base_url() or None

    # settings

    def project(self) -> str:
        """PROJECT from the command line or ``ICAV2_PROJECT_ID``."""
        project = self.args.project or os.environ.get("ICAV2_PROJECT_ID", "").strip()
        if not project:
            raise UsageError("no PROJECT given and ICAV2_PROJECT_ID is not set")
        return str(project)

    def auth(self) -> httpx.Auth:
        """The credentials: the options if any is given, else the environment, each in
        :func:`aioica.Session.from_env`'s order (a JWT wins over an API key)."""
        a = self.args
        given = {
            name: value
            for name, value in zip(CREDENTIAL_VARIABLES, (a.access_token, a.api_key), strict=True)
            if value
        }
        auth = env_auth(given, labels=_OPTIONS) if given else env_auth()
        if auth is None:
            raise ConfigurationError(
                "no ICA credentials: set ICAV2_X_API_KEY (or ICAV2_ACCESS_TOKEN), or pass "
                "--api-key/--access-token. To try aioica without an account: aioica demo"
            )
        return auth

    def session(self, auth: httpx.Auth | None = None, base_url: str | None = None) -> Session:
        """A Session with the connection options of the command line."""
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
        """``--format``, else ``table`` on a terminal and ``jsonl`` elsewhere."""
        fmt: str | None = self.args.format
        if fmt is None:
            fmt = "table" if isatty(stream) else "jsonl"
        return fmt

    def progress_wanted(self) -> bool:
        """Whether a bar is drawn (``--progress``, or stderr is a terminal; not ``--quiet``)."""
        if self.args.quiet:
            return False
        return bool(self.args.progress) or isatty(sys.stderr)

    @contextmanager
    def progress(
        self,
        description: str,
        unit: str,
        requests: Callable[[], int],
        *,
        to_stdout: bool,
        bar_width: int = 24,
    ) -> Iterator[Bar]:
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
            redirect_stdout=to_stdout and isatty(sys.stdout) and isatty(sys.stderr),
            bar_width=bar_width,
        )
        with bar:
            yield bar

    def note(self, message: str) -> None:
        """A line for humans on stderr (suppressed by --quiet)."""
        if not self.args.quiet:
            print(inert(scrub(message, self.secrets)), file=sys.stderr, flush=True)

    def error_line(self, message: str) -> str:
        """``message`` as one ``aioica: error:`` line, secrets removed."""
        return f"aioica: error: {scrub(one_line(message), self.secrets)}"
