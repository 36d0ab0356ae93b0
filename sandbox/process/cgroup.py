"""A per-slot cgroup (v1 memory controller) capping a whole sandbox's memory, when the host allows it."""

from __future__ import annotations

import os

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

    def attach(self, pid: int) -> None:
        """Move `pid` (the sandbox's first process, before it starts anything) into the group."""
        self._write("cgroup.procs", str(pid))

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process of this group since `prepare`."""
        return self.oom_kills() > self._oom_kills_before
