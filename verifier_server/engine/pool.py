"""A pool of killable worker processes: each task gets a hard deadline, after which its worker dies."""

from __future__ import annotations

import atexit
import collections
import contextlib
import importlib
import multiprocessing
import os
import resource
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from rlvr.errors import RlvrError

# How often a thread waiting on a task or on a free worker looks at its `cancel` event.
_CANCEL_POLL_SECONDS = 0.05
_PRELOAD = ["rlvr.verifier_server.engine.worker_preload", "rlvr.verifier_server.engine.core"]
_DEMOTED_NICE = 19
_SHORT, _LONG = "short", "long"  # the two worker shares
_HISTORY = 64  # runs remembered per kind of task
_MIN_HISTORY = 8  # runs of a kind seen before it can be judged long


class TaskTimeout(RlvrError):
    """The task ran past its deadline; its worker was killed and replaced."""


class TaskCancelled(RlvrError):
    """The caller cancelled the task; its worker (if it had one) was killed and replaced."""


class WorkerCrashed(RlvrError):
    """The worker died while running the task (segfault, OOM kill, kill -9)."""


class PoolClosed(RlvrError, RuntimeError):
    """The pool was closed (server shutting down); no new task is accepted."""


def _worker_main(
    conn: Connection, memory_limit_bytes: int, imports: Sequence[str], sys_path: list[str], nice: int
) -> None:
    os.setsid()  # own process group, so a timeout can kill everything the task started
    if nice:
        os.nice(nice)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The fork server may have started before the parent extended sys.path or chose its plugins.
    sys.path.extend(p for p in sys_path if p not in sys.path)
    for module in imports:
        importlib.import_module(module)
    if memory_limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            reply = ("raise", exc)
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result or exception
            conn.send(("raise", RuntimeError(f"{type(exc).__name__}: {exc}")))


_START_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_module_hidden():
    """Hide the caller's `__main__` from multiprocessing while a worker (or the fork server) starts.

    multiprocessing re-imports the parent's main script in forkserver children. Workers never need
    it, and re-running it would execute an unguarded user script again in every worker (or crash the
    worker when the script came from stdin or a notebook).
    """
    main = sys.modules.get("__main__")
    with _START_LOCK:
        if main is None:
            yield
            return
        saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if name in main.__dict__}
        main.__dict__.pop("__file__", None)
        main.__spec__ = None
        try:
            yield
        finally:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class _Worker:
    def __init__(self, ctx: Any, memory_limit_bytes: int, imports: Sequence[str], nice: int, share: str):
        self.conn, child = ctx.Pipe()
        self.demoted = False
        self.share = share
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, memory_limit_bytes, tuple(imports), list(sys.path), nice),
            daemon=True,
        )
        with _main_module_hidden():
            self.process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def demote(self) -> None:
        """Lowest CPU priority for the worker and everything in its process group."""
        if self.process.pid is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PGRP, self.process.pid, _DEMOTED_NICE)
        self.demoted = True

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (returns at once; `reap` waits for it)."""
        pid = self.process.pid
        if pid is not None:
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill()

    def reap(self) -> None:
        self.process.join(timeout=5)
        self.conn.close()


class _Share:
    """One set of workers: the idle ones and the tasks waiting for one (FIFO: no task starves)."""

    __slots__ = ("idle", "waiters")

    def __init__(self) -> None:
        self.idle: collections.deque[_Worker] = collections.deque()
        self.waiters: collections.deque[_Waiter] = collections.deque()


class _Waiter:
    """A task waiting for a worker; `_release` fills `worker` and sets `ready`."""

    __slots__ = ("ready", "worker")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.worker: Any = None


_GAVE_UP: Any = object()  # marks a waiter that left: `_release` skips it


class WorkerPool:
    """`size` worker processes (default: CPU count) running picklable functions with hard deadlines.

    `run` is thread-safe and blocks until a worker is free. Each worker runs in its own process group
    with an address-space limit of `memory_limit_mb`; on a deadline, a cancellation or a crash the
    whole group is killed with SIGKILL and a fresh worker takes its place, so no other task is harmed.
    `imports` are modules every worker imports at start (plugin verifiers registering themselves).

    Slow tasks do not hold up fast ones (a multi-level feedback queue, as in OS schedulers): with
    `slow_after` set, a task still running after that many seconds is demoted: its worker drops to
    the lowest CPU priority (nice 19) and, while fewer than `burst` such extra workers exist, a fresh
    worker is started so the tasks queued behind it start now, at normal priority. A demoted worker
    is retired when its task ends. Workers run at niceness `nice` (the server's event loop, which
    also runs the inline checks, stays ahead of them).

    Kinds of task that usually run long do not queue the short ones either: `run(..., kind=...)`
    names the task's kind (the core passes the verifier's name). Once the median of a kind's last 64
    runs exceeds `long_after` seconds (a code check starting a sandbox), its tasks run on
    `long_workers` workers of their own and leave the `size` regular ones to the short kinds (math);
    with `long_workers=0` every task shares the regular workers. Replacing a killed worker happens
    in the background, so a TIMEOUT is reported without waiting for a fork.

    Observability: `busy` and `waiting` count tasks running and tasks waiting for a worker;
    `restarts` counts replaced workers, and `on_restart(reason)` (reason: "timeout", "cancel",
    "crash") is called after each replacement; `demotions` counts demoted tasks.
    """

    def __init__(
        self,
        size: int | None = None,
        memory_limit_mb: int = 4096,
        start_method: str = "forkserver",
        imports: Sequence[str] = (),
        *,
        slow_after: float | None = None,
        burst: int = 0,
        nice: int = 0,
        long_workers: int = 0,
        long_after: float = 0.02,
    ):
        self.size = size or os.cpu_count() or 1
        self.imports = tuple(imports)
        self.slow_after = slow_after
        self.burst = burst
        self.long_workers = long_workers
        self.long_after = long_after
        self._nice = nice
        self._extra = 0  # workers started beyond `size` while demoted tasks run
        self._memory_limit = memory_limit_mb * 1024 * 1024
        self._ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(_PRELOAD)
        self._shares = {_SHORT: _Share(), _LONG: _Share()}
        self._runs: dict[str, collections.deque[float]] = {}  # kind -> its last run times (s)
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._closed = False
        self.busy = 0
        self.waiting = 0
        self.restarts = 0
        self.demotions = 0
        self.on_restart: Callable[[str], None] | None = None
        for share, count in ((_SHORT, self.size), (_LONG, long_workers)):
            for _ in range(count):
                self._add_worker(share)

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for diagnostics and tests)."""
        with self._lock:
            return [w.pid for w in self._all if w.pid is not None]

    def _add_worker(self, share: str) -> None:
        """Start a worker in `share` and hand it to a waiting task (dropped if the pool closed meanwhile)."""
        worker = _Worker(self._ctx, self._memory_limit, self.imports, self._nice, share)
        with self._lock:
            closed = self._closed
            if not closed:
                self._all.add(worker)
        if closed:
            worker.kill()
            worker.reap()
            return
        self._release(worker)

    def _discard(self, worker: _Worker) -> None:
        """Kill `worker` and keep the pool at strength: its workers plus the extras still owed."""
        with self._lock:
            self._all.discard(worker)
            respawn = not self._closed
            if worker.demoted and self._extra > 0:
                self._extra -= 1  # its extra worker stays and takes its place
                respawn = False
        worker.kill()
        threading.Thread(target=self._retire, args=(worker, respawn), daemon=True).start()

    def _retire(self, worker: _Worker, respawn: bool) -> None:
        worker.reap()
        if respawn:
            self._add_worker(worker.share)

    def _replace(self, worker: _Worker, reason: str) -> None:
        with self._lock:
            self.restarts += 1
        self._discard(worker)
        if self.on_restart is not None:
            self.on_restart(reason)

    def _demote(self, worker: _Worker) -> None:
        worker.demote()
        with self._lock:
            self.demotions += 1
            extra = not self._closed and self._extra < self.burst
            if extra:
                self._extra += 1
        if extra:
            self._add_worker(worker.share)

    def _release(self, worker: _Worker) -> None:
        """Hand an idle worker to the longest-waiting task of its share, or park it."""
        share = self._shares[worker.share]
        with self._lock:
            while share.waiters:
                waiter = share.waiters.popleft()
                if waiter.worker is None:
                    waiter.worker = worker
                    waiter.ready.set()
                    return
            share.idle.append(worker)

    def share_of(self, kind: str | None) -> str:
        """The share a task of `kind` runs in: "long" once that kind's median run exceeds `long_after`."""
        if kind is None or not self.long_workers:
            return _SHORT
        with self._lock:
            runs = list(self._runs.get(kind, ()))
        long = len(runs) >= _MIN_HISTORY and statistics.median(runs) > self.long_after
        return _LONG if long else _SHORT

    def _record(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._runs.setdefault(kind, collections.deque(maxlen=_HISTORY)).append(seconds)

    def _acquire(self, cancel: threading.Event | None, share: str) -> _Worker:
        while True:
            worker = self._wait_for_worker(cancel, self._shares[share])
            if worker.process.exitcode is None:
                return worker
            # Died while idle (OOM killer, kill -9): replace it without charging any task.
            self._replace(worker, "crash")

    def _wait_for_worker(self, cancel: threading.Event | None, share: _Share) -> _Worker:
        if cancel is not None and cancel.is_set():
            raise TaskCancelled("cancelled by the caller before it started")
        with self._lock:
            if self._closed:
                raise PoolClosed("the worker pool is closed")
            if share.idle and not share.waiters:
                return share.idle.popleft()
            waiter = _Waiter()
            share.waiters.append(waiter)
            self.waiting += 1
        try:
            while not waiter.ready.wait(_CANCEL_POLL_SECONDS if cancel is not None else 1.0):
                if self._closed or (cancel is not None and cancel.is_set()):
                    break
        finally:
            with self._lock:
                self.waiting -= 1
                worker, waiter.worker = waiter.worker, _GAVE_UP
        if worker is not None and worker is not _GAVE_UP:
            if not self._closed and (cancel is None or not cancel.is_set()):
                return worker
            self._release(worker)  # handed over just as we gave up: pass it on unused
        if self._closed:
            raise PoolClosed("the worker pool is closed")
        raise TaskCancelled("cancelled by the caller before it started")

    def run(
        self,
        fn: Callable[..., Any],
        args: tuple = (),
        timeout: float = 10.0,
        cancel: threading.Event | None = None,
        kind: str | None = None,
    ) -> Any:
        """Run `fn(*args)` in a worker and return its result (or re-raise its exception).

        Raises TaskTimeout after `timeout` seconds of running (time spent waiting for a free worker
        does not count), TaskCancelled when `cancel` is set (before or while running), WorkerCrashed
        when the worker dies, PoolClosed once `close` has been called. `kind` names the kind of
        task (its run times choose its share of workers); None shares the regular workers.
        """
        worker = self._acquire(cancel, self.share_of(kind))
        with self._lock:
            self.busy += 1
        started = time.monotonic()
        try:
            return self._run_on(worker, fn, args, timeout, cancel)
        finally:
            if kind is not None and not (cancel is not None and cancel.is_set()):
                self._record(kind, time.monotonic() - started)
            with self._lock:
                self.busy -= 1
                self._drained.notify_all()

    def _run_on(
        self,
        worker: _Worker,
        fn: Callable[..., Any],
        args: tuple,
        timeout: float,
        cancel: threading.Event | None,
    ) -> Any:
        try:
            worker.conn.send((fn, args))
        except (OSError, ValueError) as exc:
            self._replace(worker, "crash")
            raise WorkerCrashed(f"could not reach worker: {exc}") from exc
        started = time.monotonic()
        deadline = started + timeout
        demote_at = started + self.slow_after if self.slow_after is not None else None
        sentinel = worker.process.sentinel
        while True:
            now = time.monotonic()
            wake = deadline if demote_at is None or worker.demoted else min(deadline, demote_at)
            slice_seconds = max(0.0, wake - now)
            if cancel is not None:
                slice_seconds = min(slice_seconds, _CANCEL_POLL_SECONDS)
            try:
                # The sentinel wakes us at once when the worker dies, not at the deadline.
                ready = wait([worker.conn, sentinel], slice_seconds)
            except (OSError, ValueError):
                ready = [worker.conn]
            if ready:
                try:
                    kind, value = worker.conn.recv()
                except (EOFError, OSError, ValueError):
                    worker.process.join(timeout=1)
                    code = worker.process.exitcode
                    self._replace(worker, "crash")
                    raise WorkerCrashed(f"worker died (exit code {code})") from None
                if worker.demoted:
                    self._discard(worker)  # a fresh worker at normal priority takes its place
                else:
                    self._release(worker)
                if kind == "raise":
                    raise value
                return value
            if cancel is not None and cancel.is_set():
                self._replace(worker, "cancel")
                raise TaskCancelled("cancelled by the caller")
            now = time.monotonic()
            if now >= deadline:
                self._replace(worker, "timeout")
                raise TaskTimeout(f"no result within {timeout:g} s")
            if demote_at is not None and not worker.demoted and now >= demote_at:
                self._demote(worker)

    def close(self, drain_seconds: float = 0.0) -> None:
        """Stop accepting tasks, wait up to `drain_seconds` for running ones, then kill every worker.

        Tasks still waiting for a worker raise PoolClosed; tasks still running past the drain get
        WorkerCrashed when their worker is killed.
        """
        self._closed = True
        deadline = time.monotonic() + drain_seconds
        with self._lock:
            while self.busy and time.monotonic() < deadline:
                self._drained.wait(max(0.0, deadline - time.monotonic()))
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.reap()


_default: WorkerPool | None = None
_default_lock = threading.Lock()


def default_pool() -> WorkerPool:
    """The process-wide pool used by `rlvr.verify`, created on first use and closed at exit.

    Its size comes from `RLVR_WORKERS` (default: CPU count) and its workers import the plugin
    modules named in `RLVR_PLUGINS` (comma-separated).
    """
    global _default
    with _default_lock:
        if _default is None:
            from rlvr.verifier_server.engine.plugins import plugins_from_env

            size = int(os.environ.get("RLVR_WORKERS", "0")) or None
            _default = WorkerPool(size, imports=plugins_from_env())
            atexit.register(_default.close)
        return _default
