"""A per-slot cgroup (v1 memory controller) capping a whole sandbox's memory, when the host allows it."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any

V1_MEMORY = "/sys/fs/cgroup/memory"
PARENT = "rlvr-sandbox"


class MemoryCgroup:
    """The cgroup `rlvr-sandbox/uid-<uid>` of the v1 memory controller, reused by every run of that uid.

    Rlimits cap each process; this caps the sum, so a fork bomb that allocates in every child is
    OOM-killed at the cgroup limit instead of taking `processes x memory_mb` of the host. Its OOM
    kill counter also tells a memory death from any other SIGKILL. Only as root with a writable v1
    memory hierarchy; `available()` says whether this host qualifies.
    """

    def __init__(self, uid: int) -> None:
        self.path = os.path.join(V1_MEMORY, PARENT, f"uid-{uid}")
        os.makedirs(self.path, exist_ok=True)
        self._oom_kills_before = 0

    @staticmethod
    def available() -> bool:
        """Root, and a v1 memory controller we can create groups in."""
        if os.geteuid() != 0 or not os.path.isfile(os.path.join(V1_MEMORY, "memory.limit_in_bytes")):
            return False
        try:
            os.makedirs(os.path.join(V1_MEMORY, PARENT), exist_ok=True)
        except OSError:
            return False
        return True

    def _write(self, name: str, value: str) -> None:
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def oom_kills(self) -> int:
        """OOM kills in this group so far (a counter the kernel never resets)."""
        with open(os.path.join(self.path, "memory.oom_control")) as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def prepare(self, limit_bytes: int) -> None:
        """Set the limit for the next run and remember the OOM counter to compare against."""
        self._write("memory.limit_in_bytes", str(limit_bytes))
        self._oom_kills_before = self.oom_kills()

    def attach_thread(self, tid: int) -> None:
        """Move the single thread `tid` into the group (cgroup v1 lets threads of one process differ)."""
        self._write("tasks", str(tid))

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process of this group since `prepare`."""
        return self.oom_kills() > self._oom_kills_before


class CgroupSpawner:
    """A daemon thread that lives in one memory cgroup and starts processes on request.

    A child is born in its parent thread's cgroup, so processes this thread starts are in the group
    from their first instruction: no race, and no per-run migration (moving a process in cgroup v1
    waits for an RCU grace period, ~9 ms here). Only this thread is in the group; the memory of
    our own process stays charged where it was. It must outlive the processes it starts, since
    bwrap's parent-death signal follows the starting thread: it lives as long as the process.
    """

    def __init__(self, cgroup: MemoryCgroup) -> None:
        self.cgroup = cgroup
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[tuple[bool, Any]]]] = (
            queue.SimpleQueue()
        )
        started: queue.SimpleQueue[OSError | None] = queue.SimpleQueue()
        threading.Thread(
            target=self._serve, args=(started,), daemon=True, name="rlvr-sandbox-spawner"
        ).start()
        error = started.get()
        if error is not None:
            raise error

    def _serve(self, started: queue.SimpleQueue[OSError | None]) -> None:
        try:
            self.cgroup.attach_thread(threading.get_native_id())
        except OSError as e:
            started.put(e)
            return
        started.put(None)
        while True:
            fn, reply = self._requests.get()
            try:
                reply.put((True, fn()))
            except BaseException as e:  # handed to the caller, who re-raises it
                reply.put((False, e))

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the spawner thread and return its result (or raise its exception)."""
        reply: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._requests.put((fn, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value
