"""Making sure nothing of a run outlives it: a host cgroup check, else the cleanup exec; what it used."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rlvr.sandbox.docker.api import Engine
from rlvr.sandbox.docker.archive import untar
from rlvr.sandbox.docker.containers import Container
from rlvr.sandbox.docker.scripts import CLEANUP_SCRIPT, DONE
from rlvr.sandbox.exit_status import signal_number

IDLE_PROCESSES = 2  # docker-init and its shell waiting on the lifeline: all a container runs between runs
CLEANUP_TIMEOUT_SECONDS = 10.0


@dataclass
class Cleanup:
    """What the cleanup exec reported; `ok` is False (with `error`) when the container is untrusted."""

    ok: bool
    files: dict[str, bytes] = field(default_factory=dict)
    cpu_ns: int = -1  # the container's counters after the cleanup (-1: unknown)
    oom_kills: int = -1
    exit_report: bytes = b""  # what the exit reporter wrote, if anything
    error: str = ""


@dataclass
class Aftermath:
    """What is known of a run once nothing of it runs on."""

    cpu_seconds: float = 0.0
    oom_kills: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    exit_report: bytes = b""


def cleanup(engine: Engine, container: Container, collect: Sequence[str]) -> Cleanup:
    """Kill everything of the run's uid, read back `collect` and the exit report, wipe, and read the
    cgroup counters."""
    file_cap = container.shape.file_size_mb << 20
    # A tar of regular files, each within RLIMIT_FSIZE, with a header block per file and the trailer.
    caps = {1: len(collect) * (file_cap + 1024) + 20480, 2: 1 << 16}
    started = container.start_exec(engine, ["/bin/sh", "-c", CLEANUP_SCRIPT, "cleanup", *collect], b"", caps)
    try:
        stream = started.pump(time.monotonic() + CLEANUP_TIMEOUT_SECONDS)
    finally:
        started.close()
    lines = bytes(stream.out[2]).decode(errors="replace").rstrip().splitlines()
    if (
        stream.end != "eof"
        or len(lines) < 3
        or lines[-1] != DONE.decode()
        or not lines[-3].startswith("report")
    ):
        return Cleanup(False, error=f"cleanup failed ({stream.end}): {lines[-3:]}")
    counters = dict(item.split("=", 1) for item in lines[-2].split() if "=" in item)
    files = untar(bytes(stream.out[1]), file_cap) if collect else {}
    return Cleanup(
        True,
        files,
        int(counters.get("cpu_ns", -1)),
        int(counters.get("oom_kills", -1)),
        lines[-3].removeprefix("report").strip().encode(),
    )


def settle(engine: Engine, container: Container, status: int | None, collect: Sequence[str]) -> Aftermath:
    """Make sure nothing of the run runs on; its CPU seconds, OOM kills, collected files, exit report.

    `status` is the run exec's exit status when it ended by itself, else None. The cleanup exec is
    skipped only when the host sees the container's cgroup back at its idle processes, nothing is
    to be collected, and the status needs no exit report. Marks the container broken when the end of
    the run cannot be ensured (it is then removed, which kills what is left).
    """
    if status is not None and signal_number(status) is None and not collect and container.cgroup is not None:
        try:
            now = container.cgroup.read()
        except OSError:
            container.broken = True
            return Aftermath()
        if now.processes <= IDLE_PROCESSES:
            cpu_seconds, oom_kills = container.usage_since_last(now.cpu_ns, now.oom_kills)
            return Aftermath(cpu_seconds, oom_kills)
    after = cleanup(engine, container, collect)  # kills the run first when it is still going
    if not after.ok:
        container.broken = True
        return Aftermath()
    cpu_seconds, oom_kills = container.usage_since_last(after.cpu_ns, after.oom_kills)
    return Aftermath(cpu_seconds, oom_kills, after.files, after.exit_report)
