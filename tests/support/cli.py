"""Driving the ``aioica`` command line from tests."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from aioica.cli import main
from aioica.testing import FakeICA

#: Every variable the command line reads its credentials and defaults from.
ICAV2 = (
    "ICAV2_X_API_KEY",
    "ICAV2_ACCESS_TOKEN",
    "ICAV2_BASE_URL",
    "ICAV2_SERVER_URL",
    "ICAV2_PROJECT_ID",
)


def clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``ICAV2_*`` variable from the machine running the tests."""
    for name in ICAV2:
        monkeypatch.delenv(name, raising=False)


def use_fake(monkeypatch: pytest.MonkeyPatch, url: str, api_key: str, project: str) -> None:
    """The environment a user of the fake would set (what ``aioica fake-server`` prints)."""
    clear_env(monkeypatch)
    monkeypatch.setenv("ICAV2_BASE_URL", url)
    monkeypatch.setenv("ICAV2_X_API_KEY", api_key)
    monkeypatch.setenv("ICAV2_PROJECT_ID", project)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``aioica ARGV`` in process: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def jsonl(text: str) -> list[dict[str, Any]]:
    """The objects of a JSON Lines text."""
    return [json.loads(line) for line in text.splitlines()]


def settle(fake: FakeICA) -> None:
    """Wait until the fake served in a thread is quiet: a run that stopped early leaves requests
    it had written, which the server still takes in afterwards and would count for the next
    test."""
    deadline = time.monotonic() + 5
    seen = -1
    while time.monotonic() < deadline:
        if fake.counters.in_flight == 0 and fake.counters.requests == seen:
            return
        seen = fake.counters.requests
        time.sleep(0.05)


def subprocess_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``ICAV2_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICAV2_")}
    env.update(extra)
    return env


def wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    """Poll ``predicate`` (something another process does) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def signal_when(
    proc: subprocess.Popen[Any], ready: Callable[[], object], sig: int, timeout: float = 60.0
) -> Any:
    """Send ``sig`` to ``proc`` once ``ready()`` holds (or the process has ended on its own),
    wait for it to end and return its stderr (``None`` when not piped). Whatever goes wrong on
    the way, the process does not outlive the test."""
    try:
        wait_for(lambda: ready() or proc.poll() is not None)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=timeout)
        return err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
