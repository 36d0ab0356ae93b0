"""Worker pool additions the server relies on: cancellation, plugin imports, crash detection, drain."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from server_testkit import PLUGIN

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.engine.core import run_check
from rlvr.verifier_server.engine.pool import PoolClosed, TaskCancelled, TaskTimeout, WorkerCrashed, WorkerPool


@pytest.fixture
def pool():
    pool = WorkerPool(1, memory_limit_mb=1024, imports=[PLUGIN])
    yield pool
    pool.close()


def _sleep_request(seconds: float) -> bytes:
    return pb.VerifyRequest(id="p", verifier="srv_sleep", response="x").SerializeToString()


def test_workers_import_plugin_verifiers(pool):
    outcome = pool.run(run_check, ("srv_sleep", _sleep_request(0), {"seconds": 0}), timeout=30)
    assert outcome.status == pb.CORRECT


def test_cancel_kills_the_running_task_and_replaces_its_worker(pool):
    reasons: list[str] = []
    pool.on_restart = reasons.append
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    with pytest.raises(TaskCancelled):
        pool.run(time.sleep, (60,), timeout=120, cancel=cancel)
    assert reasons == ["cancel"]
    assert pool.run(pow, (3, 3), timeout=30) == 27


def test_cancelled_before_a_worker_is_free_never_runs(pool):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TaskCancelled, match="before it started"):
        pool.run(os.getpid, (), timeout=30, cancel=cancel)
    assert pool.restarts == 0


def test_a_worker_killed_while_idle_is_replaced_without_failing_the_next_task(pool):
    (pid,) = pool.pids
    os.kill(pid, signal.SIGKILL)
    while not _dead(pid):
        time.sleep(0.01)
    assert pool.run(os.getpid, (), timeout=30) != pid
    assert pool.restarts == 1


def _dead(pid: int) -> bool:
    """True once the fork server has reaped the worker (and so reported its exit status)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_worker_killed_mid_task_raises_worker_crashed(pool):
    (pid,) = pool.pids
    threading.Timer(0.2, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(WorkerCrashed):
        pool.run(time.sleep, (60,), timeout=120)


def test_close_drains_running_tasks_then_refuses_new_ones(pool):
    results: list[int] = []
    runner = threading.Thread(target=lambda: results.append(pool.run(_slow_square, (7,), timeout=30)))
    runner.start()
    while pool.busy == 0:
        time.sleep(0.01)
    pool.close(drain_seconds=30)
    runner.join(30)
    assert results == [49]
    with pytest.raises(PoolClosed):
        pool.run(pow, (2, 2), timeout=5)


def _slow_square(x: int) -> int:
    time.sleep(0.3)
    return x * x


def test_a_slow_task_is_demoted_and_does_not_hold_up_the_tasks_behind_it(tmp_path):
    pool = WorkerPool(1, memory_limit_mb=1024, slow_after=0.1, burst=1)
    release = tmp_path / "release"
    try:
        slow_result: list[str] = []
        slow = threading.Thread(
            target=lambda: slow_result.append(pool.run(_wait_for, (str(release),), timeout=60))
        )
        slow.start()
        while pool.demotions == 0:
            time.sleep(0.01)
        (demoted_pid,) = [pid for pid in pool.pids if _nice(pid) == 19]
        # The single regular worker is busy with the slow task, yet this one runs at once on the extra.
        assert pool.run(pow, (2, 5), timeout=30) == 32
        assert slow.is_alive()
        release.touch()
        slow.join(30)
        assert slow_result == ["released"]
        # The demoted worker retired when its task ended: back to one worker, at normal priority.
        assert len(pool.pids) == 1 and demoted_pid not in pool.pids
        assert _nice(pool.pids[0]) == 0
    finally:
        pool.close()


def test_demoted_task_still_gets_its_hard_deadline():
    pool = WorkerPool(1, memory_limit_mb=1024, slow_after=0.05, burst=2)
    try:
        with pytest.raises(TaskTimeout):
            pool.run(time.sleep, (60,), timeout=0.5)
        assert pool.demotions == 1
        assert len(pool.pids) == 1  # the extra replaced the killed worker; no leak beyond size
        assert pool.run(pow, (3, 2), timeout=30) == 9
    finally:
        pool.close()


def _nice(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def _wait_for(path: str) -> str:
    while not os.path.exists(path):
        time.sleep(0.01)
    return "released"


def test_a_kind_that_runs_long_gets_workers_of_its_own_and_stops_queueing_short_ones(tmp_path):
    pool = WorkerPool(1, memory_limit_mb=1024, long_workers=1, long_after=0.05)
    release = tmp_path / "release"
    try:
        assert pool.share_of("sandbox") == "short"  # no history yet: a kind starts among the short
        for _ in range(8):
            pool.run(time.sleep, (0.1,), timeout=30, kind="sandbox")
        assert pool.share_of("sandbox") == "long"
        assert pool.share_of("sympy") == "short"
        result: list[str] = []
        long = threading.Thread(
            target=lambda: result.append(pool.run(_wait_for, (str(release),), timeout=60, kind="sandbox"))
        )
        long.start()
        while pool.busy == 0:
            time.sleep(0.01)
        # No demotion is configured: only the long share keeps the one regular worker free.
        assert pool.run(pow, (2, 5), timeout=30, kind="sympy") == 32
        assert long.is_alive()
        release.touch()
        long.join(30)
        assert result == ["released"]
    finally:
        pool.close()


def test_without_long_workers_every_kind_shares_the_regular_workers():
    pool = WorkerPool(1, memory_limit_mb=1024)
    try:
        for _ in range(8):
            pool.run(time.sleep, (0.06,), timeout=30, kind="sandbox")
        assert pool.share_of("sandbox") == "short"
        assert len(pool.pids) == 1
    finally:
        pool.close()
