"""A pool of killable worker processes: each task gets a hard deadline, after which its worker dies."""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_POLL_SECONDS = 0.02
_PRELOAD = ["rlvr.verifier_server.worker_preload"]


class TaskTimeout(Exception):
    """The task ran past its deadline; its worker was killed and replaced."""


class TaskCancelled(Exception):
    """The caller cancelled the task; its worker was killed and replaced."""


class WorkerCrashed(Exception):
    """The worker died while running the task (segfault, OOM kill, kill -9)."""


def _worker_main(conn: Connection, memory_limit_bytes: int) -> None:
    os.setsid()  # own process group, so a timeout can kill everything the task started
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


class _Worker:
    def __init__(self, ctx: Any, memory_limit_bytes: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, memory_limit_bytes), daemon=True)
        self.process.start()
        child.close()

    def kill(self) -> None:
        pid = self.process.pid
        if pid is not None:
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill()
        self.process.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """`size` worker processes (default: CPU count) running picklable functions with hard deadlines.

    `run` is thread-safe and blocks until a worker is free. Each worker runs in its own process group
    with an address-space limit of `memory_limit_mb`; on a deadline, a cancellation or a crash the
    whole group is killed with SIGKILL and a fresh worker takes its place, so no other task is harmed.
    """

    def __init__(
        self, size: int | None = None, memory_limit_mb: int = 4096, start_method: str = "forkserver"
    ):
        self.size = size or os.cpu_count() or 1
        self._memory_limit = memory_limit_mb * 1024 * 1024
        self._ctx = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(_PRELOAD)
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.restarts = 0
        self.on_restart: Callable[[str], None] | None = None
        for _ in range(self.size):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._memory_limit)
        with self._lock:
            self._all.add(worker)
        return worker

    def _replace(self, worker: _Worker, reason: str) -> None:
        with self._lock:
            self._all.discard(worker)
            self.restarts += 1
        worker.kill()
        if not self._closed:
            self._idle.put(self._spawn())
        if self.on_restart is not None:
            self.on_restart(reason)

    def run(
        self,
        fn: Callable[..., Any],
        args: tuple = (),
        timeout: float = 10.0,
        cancel: threading.Event | None = None,
    ) -> Any:
        """Run `fn(*args)` in a worker and return its result (or re-raise its exception).

        Raises TaskTimeout after `timeout` seconds of running (time spent waiting for a free worker
        does not count), TaskCancelled when `cancel` is set, WorkerCrashed when the worker dies.
        """
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        worker = self._idle.get()
        try:
            worker.conn.send((fn, args))
        except (OSError, ValueError) as exc:
            self._replace(worker, "crash")
            raise WorkerCrashed(f"could not reach worker: {exc}") from exc
        deadline = time.monotonic() + timeout
        while True:
            try:
                ready = worker.conn.poll(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            except (OSError, ValueError):
                ready = True
            if ready:
                try:
                    kind, value = worker.conn.recv()
                except (EOFError, OSError, ValueError):
                    self._replace(worker, "crash")
                    raise WorkerCrashed(f"worker died (exit code {worker.process.exitcode})") from None
                self._idle.put(worker)
                if kind == "raise":
                    raise value
                return value
            if cancel is not None and cancel.is_set():
                self._replace(worker, "cancel")
                raise TaskCancelled("cancelled by the caller")
            if time.monotonic() >= deadline:
                self._replace(worker, "timeout")
                raise TaskTimeout(f"no result within {timeout:g} s")

    def close(self) -> None:
        """Kill every worker; later `run` calls raise."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()


_default: WorkerPool | None = None
_default_lock = threading.Lock()


def default_pool() -> WorkerPool:
    """The process-wide pool used by `rlvr.verify`, created on first use and closed at exit."""
    global _default
    with _default_lock:
        if _default is None:
            size = int(os.environ.get("RLVR_WORKERS", "0")) or None
            _default = WorkerPool(size)
            atexit.register(_default.close)
        return _default
