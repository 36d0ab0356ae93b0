"""Shared pytest configuration: in CI, sandbox and Docker tests must run, never skip."""

from __future__ import annotations

import os

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
