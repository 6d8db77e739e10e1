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

{exit_codes}
"""

from __future__ import annotations

from ._codes import (
    EXIT_API_ERROR,
    EXIT_AUTH,
    EXIT_CODES,
    EXIT_CODES_HELP,
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_NETWORK,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    ExitCode,
    UsageError,
    classify,
    exit_codes_rst,
)
from ._main import main
from ._output import short as _short  # noqa: F401  (the 0.1.0 module's name for it)
from ._parse import build_parser

# The exit codes in the docstring come from the one table.
__doc__ = (__doc__ or "").format(exit_codes=exit_codes_rst())

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
    "build_parser",
    "classify",
    "main",
]
