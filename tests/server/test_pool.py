"""Worker pool additions the server relies on: cancellation, plugin imports, crash detection, drain."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from conftest import PLUGIN

from rlvr.verifier.v1 import verifier_pb2 as pb
from rlvr.verifier_server.core import run_check
from rlvr.verifier_server.pool import PoolClosed, TaskCancelled, WorkerCrashed, WorkerPool


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
