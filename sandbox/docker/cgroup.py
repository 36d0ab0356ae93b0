"""Reading a container's cgroup counters (tasks, CPU, OOM kills) directly from the host's /sys/fs/cgroup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Counters:
    """A container's cgroup counters at one moment."""

    processes: int  # tasks in the container now
    cpu_ns: int  # CPU the container used since it started
    oom_kills: int  # OOM kills in the container since it started


@dataclass(frozen=True)
class HostCgroup:
    """The container's cgroup files, read directly when this process shares the engine's host."""

    pids: Path
    cpu: Path
    memory: Path
    v2: bool

    @classmethod
    def find(cls, container_id: str, init_pid: int) -> HostCgroup | None:
        """The cgroup of the container's init as seen from here, or None (another host or pid namespace)."""
        try:
            lines = Path(f"/proc/{init_pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        v1: dict[str, Path] = {}
        candidates = []
        for line in lines:
            _, controllers, path = line.split(":", 2)
            # The pid may name an unrelated process of ours when we are in another pid namespace.
            if container_id not in path:
                continue
            if controllers == "":
                base = Path(f"/sys/fs/cgroup{path}")
                candidates.append(cls(base / "pids.current", base / "cpu.stat", base / "memory.events", True))
            for controller in controllers.split(","):
                v1[controller] = Path(f"/sys/fs/cgroup/{controllers}{path}")
        if {"pids", "cpuacct", "memory"} <= v1.keys():
            candidates.insert(
                0,
                cls(
                    v1["pids"] / "pids.current",
                    v1["cpuacct"] / "cpuacct.usage",
                    v1["memory"] / "memory.oom_control",
                    False,
                ),
            )
        for candidate in candidates:
            if candidate.pids.exists() and candidate.cpu.exists() and candidate.memory.exists():
                return candidate
        return None

    def read(self) -> Counters:
        """The counters now; raises OSError when the container is gone."""
        memory = dict(line.split() for line in self.memory.read_text().splitlines() if " " in line)
        if self.v2:
            cpu = dict(line.split() for line in self.cpu.read_text().splitlines())
            cpu_ns = int(cpu["usage_usec"]) * 1000
        else:
            cpu_ns = int(self.cpu.read_text())
        return Counters(int(self.pids.read_text()), cpu_ns, int(memory.get("oom_kill", 0)))
