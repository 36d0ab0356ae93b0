"""Fixtures for the server tests: real servers on free loopback ports, in this process."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Worker processes re-import plugins by module name; they inherit this sys.path from the pool.
sys.path.insert(0, str(Path(__file__).parent))

from server_testkit import RunningServer, free_port  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """One shared server (2 workers, the test verifiers) for tests that leave it serving."""
    running = RunningServer(http_port=free_port(), metrics_port=free_port())
    yield running
    running.close()


@pytest.fixture
def make_server() -> Iterator[Any]:
    """Factory for servers with their own settings, closed after the test."""
    started: list[RunningServer] = []

    def make(**settings: Any) -> RunningServer:
        started.append(RunningServer(**settings))
        return started[-1]

    yield make
    for running in started:
        running.close()
