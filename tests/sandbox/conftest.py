"""Fixtures for the process-sandbox tests: the backend, a Python runner, and a host process census."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import pytest

from rlvr.sandbox import Limits, RunResult, SandboxUnavailable
from rlvr.sandbox.process.backend import ProcessBackend

# Small limits keep hostile programs cheap: at worst 16 processes x 128 MiB for 2 seconds.
FAST = Limits(cpu_seconds=1.0, wall_seconds=2.0, memory_mb=128, processes=16, open_files=32, workdir_mb=8)
PYTHON = "/usr/bin/python3"
CTYPES_PRELUDE = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"  # raw syscalls from Python


TEST_UID_BASE = 61000  # a range of its own, so the census below sees only this suite's sandboxes


@pytest.fixture(scope="session")
def backend() -> ProcessBackend:
    chosen = ProcessBackend(uid_base=TEST_UID_BASE, slots=16)
    try:
        chosen.check()
    except SandboxUnavailable as e:
        pytest.skip(f"process sandbox unavailable: {e}")
    return chosen


@pytest.fixture
def py(backend: ProcessBackend) -> Callable[..., RunResult]:
    """Run Python source in the sandbox: `py(code, stdin=b"", **limit_overrides)`."""

    def run(code: str, stdin: bytes = b"", **overrides: float) -> RunResult:
        limits = Limits(**{**FAST.__dict__, **overrides})
        return backend.run([PYTHON, "-c", code], stdin=stdin, limits=limits)

    return run


def live_pids(uids: set[int]) -> list[int]:
    """Host pids of live (non-zombie) processes whose real uid is in `uids`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        # Zombies are dead (they run nothing, hold nothing); this machine's pid 1 may not reap them.
        if fields["State"].split()[0] != "Z" and int(fields["Uid"].split()[0]) in uids:
            found.append(int(entry))
    return found


def sandbox_uid_processes(backend: ProcessBackend) -> list[int]:
    """Live host pids owned by a slot uid that no run holds: processes that outlived their run.

    Idle slots stay held while we look, so a run starting meanwhile (in another test session on
    this machine, say) is never mistaken for a leak.
    """
    if backend.slots is None:
        return []
    with backend.slots.idle() as idle_uids:
        return live_pids(idle_uids)


@contextlib.contextmanager
def host_unharmed(backend: ProcessBackend, canary: str) -> Iterator[None]:
    """Around a test: no sandbox process of `backend` survives, and the host file `canary` is untouched."""
    with open(canary, "w") as f:
        f.write("intact")
    yield
    assert sandbox_uid_processes(backend) == [], "a sandboxed process outlived its run"
    with open(canary) as f:
        assert f.read() == "intact"
    os.unlink(canary)
