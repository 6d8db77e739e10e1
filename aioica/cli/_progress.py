"""The command line's progress bar, drawn with rich on stderr.

Imported only when a bar is wanted: the library itself never
needs rich.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

__all__ = ["ProgressBar"]


class _Count(ProgressColumn):
    """``1,234/3,000 sessions`` (or ``1,234 sessions`` while the total is unknown); once items
    were skipped or failed, ``1,234/3,000: 900 done, 330 skipped, 4 failed`` (zeros left out)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        settled = int(task.completed)
        text = f"{settled:,}/{int(task.total):,}" if task.total is not None else f"{settled:,}"
        skipped = int(task.fields.get("skipped", 0))
        failed = int(task.fields.get("failed", 0))
        if skipped or failed:
            text += f": {settled - skipped - failed:,} done"
            text += f", {skipped:,} skipped" if skipped else ""
            text += f", {failed:,} failed" if failed else ""
        else:
            text += f" {self.unit}"
        return Text(text, style="progress.download")


class _Rate(ProgressColumn):
    """Items fetched per second since the start (skipped ones left out; steadier than rich's
    sliding-window speed); ``-/s`` until the first item is fetched."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        fetched = task.completed - int(task.fields.get("skipped", 0))
        if fetched <= 0 or not elapsed or elapsed <= 0:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{fetched / elapsed:,.0f}/s", style="progress.data.speed")


class _Requests(ProgressColumn):
    """HTTP requests sent so far, read live from the session."""

    def __init__(self, requests: Callable[[], int]) -> None:
        super().__init__()
        self._requests = requests

    def render(self, task: Task) -> Text:
        return Text(f"{self._requests():,} req", style="progress.elapsed")


class ProgressBar:
    """A one-line bar on stderr: spinner, bar, count, items/s, requests, elapsed time.

    ``redirect_stdout`` routes lines written to ``sys.stdout`` above the bar; only ask for it
    when stdout is the same terminal (never for a pipe or a file, whose bytes must stay there).
    :meth:`skip` and :meth:`fail` count items that settled without being done; a narrower
    ``bar_width`` leaves room on the line for those counts.
    """

    def __init__(
        self,
        description: str,
        unit: str,
        requests: Callable[[], int],
        *,
        total: int | None = None,
        force_terminal: bool = False,
        redirect_stdout: bool = False,
        bar_width: int = 24,
    ) -> None:
        self.console = Console(stderr=True, force_terminal=True if force_terminal else None)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=bar_width),
            _Count(unit),
            _Rate(),
            _Requests(requests),
            TimeElapsedColumn(),
            console=self.console,
            redirect_stdout=redirect_stdout,
            redirect_stderr=False,
            refresh_per_second=8,
        )
        self._task = self._progress.add_task(description, total=total, skipped=0, failed=0)
        self._skipped = 0
        self._failed = 0

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Draw the final state and release the terminal (idempotent)."""
        self._progress.stop()
        # The bar leaves the cursor at the end of its line; later stderr text starts fresh.
        sys.stderr.flush()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        self._progress.advance(self._task, n)

    def skip(self, n: int = 1) -> None:
        """Count ``n`` more items left out (already done, say)."""
        self._skipped += n
        self._progress.update(self._task, advance=n, skipped=self._skipped)

    def fail(self, n: int = 1) -> None:
        """Count ``n`` more items that failed."""
        self._failed += n
        self._progress.update(self._task, advance=n, failed=self._failed)

    def line(self, text: str) -> None:
        """Print one line of text above the bar (as is: no markup, no wrapping)."""
        self.console.print(text, markup=False, highlight=False, soft_wrap=True, emoji=False)

    def set_total(self, total: int | None) -> None:
        """Set (or correct) the expected number of items."""
        self._progress.update(self._task, total=total)
