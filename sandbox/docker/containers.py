"""Starting and removing the locked-down containers runs execute in, each tied to its owner's lifetime."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import weakref
from dataclasses import dataclass

from rlvr.sandbox.docker.api import Engine, Exec
from rlvr.sandbox.docker.cgroup import HostCgroup
from rlvr.sandbox.limits import Limits

OWNER_LABEL = "org.rlvr.sandbox.owner"  # "<hostname>:<pid>" of the process whose pool made the container
WORKDIR = "/work"
ENVIRONMENT = {  # the whole environment of a run: nothing is inherited from the host
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "TMPDIR": WORKDIR,
    "LANG": "C.UTF-8",
}
INIT_USER = "65534:65534"  # the container's idle init runs as `nobody`, never as a run's uid
# Each container runs its runs as its own uid from this range, which no host account uses: per-uid
# kernel counters (RLIMIT_NPROC, inotify instances, mqueue bytes) of one container never touch another's.
RUN_UID_RANGE = (1_000_000, 2_000_000_000)
# Room the container keeps beyond `Limits.processes` for docker-init, its shell, the exit reporter and
# the cleanup exec, so a fork bomb that filled its own quota cannot stop the cleanup from starting.
PROCESS_HEADROOM = 8
SHM_MB = 8  # /dev/shm is writable (and wiped like the work dir); kept small
SHM_INODES = 1024
INODES_PER_MB = 256  # of the work dir: 16384 files in the default 64 MiB

_lifelines: weakref.WeakSet[socket.socket] = weakref.WeakSet()


def _drop_inherited_lifelines() -> None:
    """In a forked child: close its copies of the parent's lifelines, so that the parent's death
    still ends the parent's containers while the child lives on."""
    for sock in list(_lifelines):
        with contextlib.suppress(OSError):
            sock.close()
    _lifelines.clear()


os.register_at_fork(after_in_child=_drop_inherited_lifelines)


@dataclass(frozen=True)
class ContainerShape:
    """The limits fixed when a container starts; runs with equal shapes share warm containers."""

    memory_mb: int
    processes: int
    workdir_mb: int
    open_files: int
    file_size_mb: int

    @classmethod
    def of(cls, limits: Limits) -> ContainerShape:
        return cls(
            limits.memory_mb, limits.processes, limits.workdir_mb, limits.open_files, limits.file_size_mb
        )


@dataclass
class Container:
    """One started container: its run uid and shape, and what the host knows of its cgroup."""

    id: str
    uid: int
    shape: ContainerShape
    cgroup: HostCgroup | None = None
    # Our end of the container's stdin. The container's init waits for its EOF, which the kernel
    # delivers when this process dies by any means (even SIGKILL), and the container is then removed.
    lifeline: socket.socket | None = None
    cpu_ns: int = 0  # the cgroup counters at the end of the last run
    oom_kills: int = 0
    broken: bool = False  # must not be reused: removed when checked back in

    def start_exec(self, engine: Engine, argv: list[str], stdin: bytes, caps: dict[int, int]) -> Exec:
        """Start `argv` in the work dir as this container's run uid, with the run environment."""
        user = f"{self.uid}:{self.uid}"
        return engine.start_exec(
            self.id, argv, stdin, caps, user=user, workdir=WORKDIR, environment=ENVIRONMENT
        )

    def usage_since_last(self, cpu_ns: int, oom_kills: int) -> tuple[float, int]:
        """CPU seconds and OOM kills since the last call, from the container's running totals
        (a negative total means unknown: it counts as 0 and keeps the previous total)."""
        cpu = (cpu_ns - self.cpu_ns) / 1e9 if cpu_ns >= 0 else 0.0
        kills = oom_kills - self.oom_kills if oom_kills >= 0 else 0
        self.cpu_ns, self.oom_kills = max(cpu_ns, self.cpu_ns), max(oom_kills, self.oom_kills)
        return max(cpu, 0.0), max(kills, 0)


def start_container(
    engine: Engine, image: str, shape: ContainerShape, *, cpus: float, owner: str, name: str
) -> Container:
    """Create and start a container of `shape` labelled with `owner`, attached to its lifeline.

    Raises SDK errors or OSError; a container that was created is removed again first.
    """
    uid = random.randrange(*RUN_UID_RANGE)
    mib = 1 << 20
    # Inodes are capped too: empty files cost no bytes of `size`, but kernel memory all the same.
    inodes = shape.workdir_mb * INODES_PER_MB
    types = engine.types
    host_config = engine.api.create_host_config(
        network_mode="none",
        read_only=True,
        tmpfs={
            WORKDIR: f"exec,nosuid,nodev,size={shape.workdir_mb}m,nr_inodes={inodes},uid={uid},gid={uid}",
            "/dev/shm": f"rw,noexec,nosuid,nodev,size={SHM_MB}m,nr_inodes={SHM_INODES}",
        },
        mem_limit=shape.memory_mb * mib,
        memswap_limit=shape.memory_mb * mib,
        pids_limit=shape.processes + PROCESS_HEADROOM,
        nano_cpus=int(cpus * 1e9),
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        ipc_mode="private",
        init=True,  # docker-init reaps the orphans runs leave behind
        auto_remove=True,
        log_config=types.LogConfig(type="none"),
        ulimits=[
            types.Ulimit(name="nofile", soft=shape.open_files, hard=shape.open_files),
            types.Ulimit(name="fsize", soft=shape.file_size_mb * mib, hard=shape.file_size_mb * mib),
            types.Ulimit(name="nproc", soft=shape.processes + 4, hard=shape.processes + 4),
            types.Ulimit(name="core", soft=0, hard=0),
        ],
    )
    created = engine.api.create_container(
        image,
        command=["/bin/sh", "-c", "read -r _"],  # until the lifeline closes
        stdin_open=True,  # with the SDK's default detach=False this sets StdinOnce too
        user=INIT_USER,
        working_dir=WORKDIR,
        environment=ENVIRONMENT,
        hostname="sandbox",
        network_disabled=True,
        labels={OWNER_LABEL: owner},
        host_config=host_config,
        name=f"{name}-{uid}",
    )
    container = Container(created["Id"], uid, shape)
    try:
        container.lifeline, _ = engine.upgrade(f"/containers/{container.id}/attach?stream=1&stdin=1")
        _lifelines.add(container.lifeline)
        engine.api.start(container.id)
        init_pid = engine.api.inspect_container(container.id)["State"]["Pid"]
        container.cgroup = HostCgroup.find(container.id, init_pid)
    except BaseException:
        remove_container(engine, container)
        raise
    return container


def remove_container(engine: Engine, container: Container) -> None:
    """Remove `container` (killing what runs in it) and close its lifeline; never raises."""
    with contextlib.suppress(Exception):
        engine.api.remove_container(container.id, force=True)
    if container.lifeline is not None:
        container.lifeline.close()
