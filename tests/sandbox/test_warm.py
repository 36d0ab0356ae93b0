"""Sandboxes started ahead of demand: refilled in the background, used once, and limited by the job."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rlvr.sandbox import Limits
from rlvr.sandbox.process.backend import ProcessBackend

from .conftest import FAST, PYTHON, TEST_UID_BASE, live_pids

pytestmark = pytest.mark.sandbox

LEAVE_TRACES = """
import os, sys, time
print(sorted(os.listdir('.')), sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
open('left-behind', 'w').write('x')
if os.fork() == 0:
    os.setsid(); time.sleep(60)
"""


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


@pytest.fixture
def own() -> ProcessBackend:
    """A backend with a pool of its own (uids of its own), closed after the test."""
    chosen = ProcessBackend(uid_base=TEST_UID_BASE + 52, slots=8, warm=2)
    chosen.check()
    yield chosen
    chosen.close()


def test_the_pool_refills_after_each_run(own: ProcessBackend) -> None:
    own.run(["/bin/true"], limits=FAST)
    assert _wait_for(lambda: own.warm.ready(FAST.workdir_mb) == 2), "the pool did not refill"
    own.run(["/bin/true"], limits=FAST)
    assert own.warm.ready(FAST.workdir_mb) <= 2
    assert _wait_for(lambda: own.warm.ready(FAST.workdir_mb) == 2)


def test_a_run_sees_nothing_of_the_previous_one(own: ProcessBackend) -> None:
    first, second = (
        own.run([PYTHON, "-c", LEAVE_TRACES], files={"given": b"1"}, limits=FAST) for _ in range(2)
    )
    assert first.ok and second.ok
    # Each its own fresh sandbox: its files only, and only the driver (pid 1) and itself.
    assert first.stdout.splitlines()[0] == b"['given'] [1, 2]"
    assert second.stdout == first.stdout


def test_a_ready_sandbox_takes_the_limits_of_the_job_it_gets(own: ProcessBackend) -> None:
    own.run(["/bin/true"], limits=FAST)
    assert _wait_for(lambda: own.warm.ready(FAST.workdir_mb) == 2)
    tight = Limits(**{**FAST.__dict__, "processes": 3, "open_files": 10})
    show = "import resource as r; print(r.getrlimit(r.RLIMIT_NPROC)[0], r.getrlimit(r.RLIMIT_NOFILE)[0])"
    result = own.run([PYTHON, "-c", show], limits=tight)
    assert result.stdout == b"4 10\n"  # 3 for the run, plus the driver


def test_each_work_dir_size_gets_a_sandbox_of_that_size(own: ProcessBackend) -> None:
    fill = [PYTHON, "-c", "open('f', 'wb').write(b'x' * 6 * 2**20); print('wrote')"]
    small = Limits(**{**FAST.__dict__, "workdir_mb": 4, "file_size_mb": 8})
    large = Limits(**{**FAST.__dict__, "workdir_mb": 16, "file_size_mb": 8})
    for _ in range(2):
        assert b"No space left" in own.run(fill, limits=small).stderr
        assert own.run(fill, limits=large).stdout == b"wrote\n"


def test_a_ready_sandbox_killed_while_waiting_is_replaced(own: ProcessBackend) -> None:
    own.run(["/bin/true"], limits=FAST)
    assert _wait_for(lambda: own.warm.ready(FAST.workdir_mb) == 2)
    waiting = list(own.warm._ready[FAST.workdir_mb])
    for started in waiting:
        os.kill(started.launched.init_pid, signal.SIGKILL)
    assert _wait_for(lambda: not any(started.alive() for started in waiting))
    result = own.run(["/bin/echo", "fine"], limits=FAST)
    assert result.ok and result.stdout == b"fine\n"


def test_close_ends_every_ready_sandbox(own: ProcessBackend) -> None:
    own.run(["/bin/true"], limits=FAST)
    assert _wait_for(lambda: own.warm.ready(FAST.workdir_mb) == 2)
    own.close()
    uids = set(range(TEST_UID_BASE + 52, TEST_UID_BASE + 60))
    assert _wait_for(lambda: not live_pids(uids)), "a ready sandbox outlived close()"


def test_a_forked_child_runs_in_sandboxes_of_its_own(own: ProcessBackend) -> None:
    own.run(["/bin/true"], limits=FAST)
    assert _wait_for(lambda: own.warm.ready(FAST.workdir_mb) == 2)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            result = own.run(["/bin/echo", "child"], limits=FAST)
            os.write(write, result.stdout + str(own.warm.ready(FAST.workdir_mb)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as f:
        assert f.read().startswith(b"child\n")
    assert own.warm.ready(FAST.workdir_mb) == 2  # the parent's are untouched
    assert own.run(["/bin/echo", "parent"], limits=FAST).stdout == b"parent\n"


def test_a_reused_slot_cgroup_still_caps_the_tree() -> None:
    capped = ProcessBackend(uid_base=TEST_UID_BASE + 60, slots=2, memory_cgroups=True, warm=1)
    if not capped.memory_cgroups:
        pytest.skip("no writable cgroup v1 memory controller (needs root): rlimits only")
    from .test_limits import TREE_BOMB

    try:
        roomy = Limits(memory_mb=1024, processes=16, workdir_mb=8, wall_seconds=10, cpu_seconds=5)
        tight = Limits(memory_mb=128, processes=16, workdir_mb=8, wall_seconds=10, cpu_seconds=5)
        # Two slots, so the bombs land in cgroups that earlier runs (with a looser cap) used.
        for limits, bomb in [(roomy, b""), (tight, b"bomb"), (roomy, b""), (tight, b"bomb"), (tight, b"")]:
            result = capped.run([PYTHON, "-c", TREE_BOMB], stdin=bomb, limits=limits)
            assert result.memory_exceeded == (bomb == b"bomb"), result
            assert result.ok == (bomb == b""), result
    finally:
        capped.close()
