"""Shared pytest configuration: in CI, sandbox and Docker tests must run, never skip."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

MUST_RUN_IN_CI = ("docker", "sandbox")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and any(item.get_closest_marker(m) for m in MUST_RUN_IN_CI):
        # .ci/run installs bubblewrap and starts Docker: a skip there hides a broken setup.
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run: {report.longrepr}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serve_target() -> Iterator[str]:
    """host:port of a real `rlvr serve` (one worker) started for this module, stopped after it."""
    port = _free_port()
    command = [sys.executable, "-m", "rlvr.cli", "serve", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    if process.poll() is not None:
        pytest.fail(f"rlvr serve exited: {process.stderr.read().decode()[-2000:]}")
    yield f"127.0.0.1:{port}"
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)
