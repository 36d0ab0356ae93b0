"""Sandboxes started ahead of demand: a few fresh ones kept ready per work-dir size, refilled in the background."""

from __future__ import annotations

import collections
import contextlib
import os
import select
import socket
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from rlvr.sandbox.process.bwrap import Launched
from rlvr.sandbox.process.slots import Slot


@dataclass
class Started:
    """One started sandbox whose driver is up and waiting on `handoff` for its one job.

    `status` accumulates bwrap's `--json-status-fd` documents read from `status_fd`. Used once:
    after its job (or unused) it is torn down, which kills and reaps it and frees its slot.
    """

    launched: Launched
    handoff: socket.socket
    status_fd: int
    slot: Slot | None
    workdir_mb: int
    status: bytearray = field(default_factory=bytearray)
    errors: bytes = b""  # bwrap's stderr, read at teardown

    def read_status(self) -> bytes:
        """Everything bwrap wrote to its status fd so far (without blocking)."""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.status_fd, 4096):
                self.status += chunk
        return bytes(self.status)

    def alive(self) -> bool:
        """Whether its init (whose death ends the sandbox) still runs."""
        pidfd = self.launched.init_pidfd
        return pidfd is not None and not select.select([pidfd], [], [], 0)[0]

    def forget(self) -> None:
        """In a forked child: close our copies of its fds; the parent still owns the sandbox."""
        self.handoff.close()
        os.close(self.status_fd)
        if self.slot is not None:
            self.slot.release(clean=False)  # only closes the copy: the lock file is the parent's


class WarmPool:
    """Keeps `size` started sandboxes ready for each of the `shapes` work-dir sizes last asked for.

    A sandbox is shaped by its work-dir size only (the tmpfs is mounted at start); every other limit
    is applied when its job arrives. One daemon thread starts them (it outlives them, as bwrap's
    parent-death signal, which is per thread, requires) and tears used ones down, so neither costs
    a caller's time. A forked child starts a pool of its own and leaves its parent's sandboxes alone.
    """

    def __init__(
        self,
        start: Callable[[int], Started | str | None],
        teardown: Callable[[Started], None],
        size: int = 2,
        shapes: int = 2,
    ) -> None:
        self._start, self._teardown = start, teardown
        self.size, self.shapes = size, shapes
        self._reset()
        ref = weakref.ref(self)

        def in_child() -> None:
            pool = ref()
            if pool is not None:
                pool._forget()

        os.register_at_fork(after_in_child=in_child)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._ready: collections.OrderedDict[int, collections.deque[Started]] = collections.OrderedDict()
        self._used: list[Started] = []
        self._failed: set[int] = set()  # shapes whose last start failed: not refilled until asked again
        self._starved = False  # no slot was free: wait for a run to end before starting more
        self._thread: threading.Thread | None = None
        self._closed = False

    def _forget(self) -> None:
        for started in [s for queue in self._ready.values() for s in queue] + self._used:
            started.forget()
        self._reset()

    def take(self, workdir_mb: int) -> Started | None:
        """A ready sandbox with a `workdir_mb` work dir, or None when none is ready yet."""
        if self.size <= 0:
            return None
        with self._cond:
            queue = self._ready.setdefault(workdir_mb, collections.deque())
            self._ready.move_to_end(workdir_mb)
            while len(self._ready) > self.shapes:  # the least recently asked-for size goes
                _, stale = self._ready.popitem(last=False)
                self._used += stale
            self._failed.discard(workdir_mb)
            self._starved = False
            taken = queue.popleft() if queue else None
            self._wake()
        return taken

    def ready(self, workdir_mb: int) -> int:
        """How many sandboxes with a `workdir_mb` work dir are ready right now."""
        with self._cond:
            return len(self._ready.get(workdir_mb, ()))

    def retire(self, started: Started) -> None:
        """Tear `started` down in the background (it ran its job, or will not run one)."""
        with self._cond:
            self._used.append(started)
            self._starved = False
            self._wake()

    def evict(self) -> bool:
        """Tear down one ready sandbox now (the least recently asked-for size's), freeing its slot.

        False when none is ready. For a caller that needs a slot the pool holds.
        """
        with self._cond:
            queue = next((q for q in self._ready.values() if q), None)
            victim = queue.popleft() if queue else None
            self._starved = True  # do not take the slot straight back
        if victim is None:
            return False
        self._teardown(victim)
        return True

    def close(self) -> None:
        """Tear down every ready sandbox now and stop the background thread."""
        with self._cond:
            self._closed = True
            idle = [s for queue in self._ready.values() for s in queue] + self._used
            self._ready.clear()
            self._used = []
            self._cond.notify_all()
        for started in idle:
            self._teardown(started)

    def _wake(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._work, name="rlvr-sandbox-warm", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def _wanted(self) -> int | None:
        """The most recently asked-for work-dir size that has fewer than `size` sandboxes ready."""
        for workdir_mb in reversed(self._ready):
            if len(self._ready[workdir_mb]) < self.size and workdir_mb not in self._failed:
                return workdir_mb
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._used and (self._starved or self._wanted() is None):
                    self._cond.wait()
                if self._closed:
                    return
                used = self._used.pop() if self._used else None
                shape = self._wanted() if used is None else None
            if used is not None:  # freeing slots comes first: starts may be waiting for them
                self._teardown(used)
                continue
            assert shape is not None
            started = self._start(shape)
            with self._cond:
                if started is None:
                    self._starved = True
                    continue
                if isinstance(started, str):
                    self._failed.add(shape)
                    continue
                if not self._closed and shape in self._ready:
                    self._ready[shape].append(started)
                    continue
            self._teardown(started)  # closed, or that size was evicted while it started
