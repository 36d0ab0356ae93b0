"""Fixtures for the process-sandbox tests: the backend, a Python runner, and a host process census."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from rlvr.sandbox import Limits, RunResult, SandboxUnavailable, get_backend
from rlvr.sandbox.process import ProcessBackend

# Small limits keep hostile programs cheap: at worst 16 processes x 128 MiB for 2 seconds.
FAST = Limits(cpu_seconds=1.0, wall_seconds=2.0, memory_mb=128, processes=16, open_files=32, workdir_mb=8)
PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="session")
def backend() -> ProcessBackend:
    chosen = get_backend("process")
    try:
        chosen.check()
    except SandboxUnavailable as e:
        pytest.skip(f"process sandbox unavailable: {e}")
    assert isinstance(chosen, ProcessBackend)
    return chosen


@pytest.fixture
def py(backend: ProcessBackend) -> Callable[..., RunResult]:
    """Run Python source in the sandbox: `py(code, stdin=b"", **limit_overrides)`."""

    def run(code: str, stdin: bytes = b"", **overrides: float) -> RunResult:
        limits = Limits(**{**FAST.__dict__, **overrides})
        return backend.run([PYTHON, "-c", code], stdin=stdin, limits=limits)

    return run


def sandbox_uid_processes(backend: ProcessBackend) -> list[int]:
    """Live host pids whose real uid is one of the backend's slot uids (or none when not root)."""
    if backend.slots is None:
        return []
    lo, hi = backend.slots.uid_base, backend.slots.uid_base + backend.slots.count
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        # Zombies are dead (they run nothing and hold no resources); this machine's pid 1 may not reap them.
        if fields["State"].split()[0] != "Z" and lo <= int(fields["Uid"].split()[0]) < hi:
            found.append(int(entry))
    return found
