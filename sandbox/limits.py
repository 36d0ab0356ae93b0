"""Resource limits of one sandboxed run, and what a run produced."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlvr.errors import RlvrError


class InvalidLimits(RlvrError, ValueError):
    """A limit that is not a positive number (a zero or negative limit would make every run fail)."""


@dataclass(frozen=True)
class Limits:
    """Hard limits of one sandboxed run. Every field is enforced by every backend.

    Units are in the names: seconds, mebibytes, counts, bytes.
    """

    cpu_seconds: float = 2.0  # CPU time of the whole process tree (RLIMIT_CPU per process + accounting)
    wall_seconds: float = 5.0  # wall clock, enforced from outside: the whole tree is killed
    memory_mb: int = 512  # address space / cgroup memory of the run
    processes: int = 32  # processes and threads the run may have at once
    open_files: int = 64  # file descriptors per process
    file_size_mb: int = 16  # largest file the run may write
    workdir_mb: int = 64  # size of the private tmpfs work dir
    output_bytes: int = 1 << 20  # captured bytes of stdout, and separately of stderr; the rest is dropped

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidLimits(f"Limits.{name}={value!r}: every limit must be a positive number")

    def scaled(self, factor: float) -> Limits:
        """These limits with CPU and wall time multiplied by `factor` (e.g. for a compile step)."""
        return Limits(
            self.cpu_seconds * factor,
            self.wall_seconds * factor,
            self.memory_mb,
            self.processes,
            self.open_files,
            self.file_size_mb,
            self.workdir_mb,
            self.output_bytes,
        )


@dataclass
class RunResult:
    """What one sandboxed command did. Output is capped at `Limits.output_bytes` per stream."""

    exit_code: int | None  # None when killed by a signal or never started
    signal: int | None = None  # the signal that ended it, if any
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    timed_out: bool = False  # wall or CPU limit hit
    memory_exceeded: bool = False
    output_exceeded: bool = False  # a stream passed output_bytes (the run is killed)
    sandbox_error: str | None = None  # the sandbox itself failed: nothing is known about the program
    files: dict[str, bytes] = field(default_factory=dict)  # work-dir files asked for with `collect`

    @property
    def ok(self) -> bool:
        """Exited 0 within every limit."""
        return (
            self.exit_code == 0
            and self.sandbox_error is None
            and not (self.timed_out or self.memory_exceeded or self.output_exceeded)
        )
