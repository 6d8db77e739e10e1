"""Running a command: Ctrl-C as a clean cancellation, failures as one line and an exit code."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

import anyio

from .._text import inert
from ._codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, classify
from ._parse import build_parser
from ._runtime import Runtime, argv_secrets, env_secrets, one_line, scrub

__all__ = ["main"]

# A --debug traceback is long by nature, but still bounded.
_MAX_TRACE = 100_000


async def _watch_sigint(scope: anyio.CancelScope, rt: Runtime) -> None:
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


async def _amain(rt: Runtime, handler: Callable[[Runtime], Awaitable[int]]) -> int:
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


def _report(exc: BaseException, rt: Runtime | None, secrets: Sequence[str], *, debug: bool) -> int:
    code, message = classify(exc, rt.base_url if rt is not None else None)
    # Server text may reach a message: it is shown short, with terminal escapes defused.
    if debug:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        sys.stderr.write(inert(scrub(trace, secrets), _MAX_TRACE, keep_newlines=True))
    text = inert(scrub(one_line(message), secrets))
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
    status (the table :data:`EXIT_CODES`, also in ``aioica --help``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    secrets = argv_secrets(argv) + env_secrets()
    parser = build_parser(prog, secrets)
    if not argv:
        parser.print_help()
        return EXIT_USAGE
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "fake-server":
        from ..testing._cli import fake_server_main

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
    rt = Runtime(args, secrets)
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
