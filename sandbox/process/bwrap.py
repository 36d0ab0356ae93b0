"""Starting one bubblewrap sandbox: its command line, rlimits, and killing and reaping it from outside."""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import re
import select
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from rlvr.sandbox.limits import Limits
from rlvr.sandbox.process.cgroup import MemoryCgroup

WORKDIR = "/w"
SYSTEM_PYTHON = "/usr/bin/python3"  # runs our in-sandbox helpers (batch driver, unshare init): stdlib only
MIB = 1 << 20
_PR_SET_CHILD_SUBREAPER = 36
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "HOME": WORKDIR,
    "TMPDIR": WORKDIR,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}
# Read-only system view: /usr plus the merged-/usr top-level links, and the few /etc files programs
# and compilers read. Nothing else of the host (no /home, /root, /tmp, /proc of the host, the repo).
_TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime")


def memfd(data: bytes, name: str = "rlvr") -> int:
    """A close-on-exec fd holding `data`, positioned at its start (bwrap `--seccomp`, a job's manifest)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def system_binds() -> list[str]:
    """bwrap arguments giving the sandbox a read-only /usr, the top-level links into it, and a minimal /etc."""
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _TOP_LEVEL:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC:
        args += ["--ro-bind-try", path, path]
    return args


def rlimits(limits: Limits, extra_processes: int) -> dict[str, tuple[int, int]]:
    """`resource` RLIMIT_* names -> (soft, hard) for one run of `limits`.

    CPU: SIGXCPU at the soft limit (whole seconds, rounded up), SIGKILL a second later for programs
    that catch it. Memory caps both address space and data segment (per process). The process count
    includes `extra_processes` of ours that share the run's uid (bwrap's init, a driver).
    """
    cpu = max(1, math.ceil(limits.cpu_seconds))
    memory = limits.memory_mb * MIB
    nproc = limits.processes + extra_processes
    return {
        "RLIMIT_CPU": (cpu, cpu + 1),
        "RLIMIT_AS": (memory, memory),
        "RLIMIT_DATA": (memory, memory),
        "RLIMIT_NPROC": (nproc, nproc),
        "RLIMIT_NOFILE": (limits.open_files, limits.open_files),
        "RLIMIT_FSIZE": (limits.file_size_mb * MIB, limits.file_size_mb * MIB),
        "RLIMIT_CORE": (0, 0),
    }


@dataclass(frozen=True)
class Bwrap:
    """The fixed part of every sandbox's command line: tool paths and the system binds."""

    bwrap: str
    setpriv: str
    binds: tuple[str, ...]
    name = "bubblewrap"
    own_processes = 1  # in the sandbox, under the run's uid: the driver (pid 1)

    def command(
        self,
        uid: int,
        workdir_mb: int,
        seccomp_fd: int,
        status_fd: int,
        payload: Sequence[str],
    ) -> tuple[list[str], list[int]]:
        """The host command starting `payload` (argv inside the sandbox) as `uid`, all namespaces new.

        Returns the command and the extra fds it needs inherited (none for bwrap), which the caller
        closes once it has started.
        """
        argv = []
        if os.geteuid() == 0:
            # setpriv rather than Popen(user=...): a uid change makes Popen fork() instead of vfork(),
            # which costs tens of ms in a large parent process (a worker with a model loaded).
            argv += [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
        # --die-with-parent also arms the outer bwrap's parent-death signal: if the caller (a verifier
        # worker, say) is SIGKILLed, bwrap dies, then its init, then the whole pid namespace.
        # --as-pid-1: our driver is the namespace's init, which its programs cannot signal at all.
        argv += [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--as-pid-1",
            "--uid",
            str(uid),
            "--gid",
            str(uid),
        ]
        argv += ["--hostname", "sandbox", "--die-with-parent", "--new-session", *self.binds]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--size", str(workdir_mb * MIB), "--tmpfs", WORKDIR, "--symlink", WORKDIR, "/tmp"]
        argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
        for key, value in SANDBOX_ENV.items():
            argv += ["--setenv", key, value]
        argv += ["--seccomp", str(seccomp_fd), "--json-status-fd", str(status_fd), "--", *payload]
        return argv, []


def check_relative(path: str) -> None:
    """Raise ValueError unless `path` is a plain relative path that stays inside the work dir."""
    norm = os.path.normpath(path)
    if os.path.isabs(path) or norm.startswith("..") or norm in (".", "") or norm != path:
        raise ValueError(
            f"sandbox file path {path!r} must be a plain relative path inside the work dir, like 'a/b.txt'"
        )


def parse_status(data: bytes) -> dict[str, int]:
    """Merge bwrap's `--json-status-fd` documents: `child-pid` at start, `exit-code` once the command ran.

    The first `child-pid` wins: it is written before the command starts, and that pid is later
    signalled, so nothing written after it (the fd is close-on-exec anyway) may redirect that.
    """
    merged: dict[str, int] = {}
    for match in re.finditer(rb"\{[^{}]*\}", data):
        try:
            doc = json.loads(match.group())
        except ValueError:
            continue
        for key, value in doc.items():
            if isinstance(value, int) and not (key == "child-pid" and key in merged):
                merged[key] = value
    return merged


class Launched:
    """One started bwrap: kills it from outside and reaps it, including its pid-1 init.

    bwrap's outer process exits as soon as its init reports the exit code, so the init (whose
    reaped children carry the program's CPU time) is re-parented; we are a child subreaper, so it
    comes to us and `finish` can collect its rusage and be sure its namespace is empty.
    """

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.init_pid: int | None = None
        self.init_pidfd: int | None = None
        self.memory_cgroup: MemoryCgroup | None = None  # set when the sandbox runs in one

    def open_init(self, status: bytes) -> None:
        """Hold a pidfd on the sandbox's init, named by the `child-pid` in bwrap's `status` so far."""
        child = parse_status(status).get("child-pid")
        if child is not None and self.init_pidfd is None:
            with contextlib.suppress(ProcessLookupError):
                self.init_pidfd = os.pidfd_open(child)
                self.init_pid = child

    def kill(self, status: bytes) -> None:
        """SIGKILL the sandbox's init (the kernel then kills its whole pid namespace) and bwrap."""
        self.open_init(status)
        if self.init_pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def finish(self, status: bytes, timeout: float = 5.0) -> tuple[float, int]:
        """Reap bwrap and its init; return (CPU seconds of the whole tree, peak RSS in bytes)."""
        _, wait_status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(wait_status)
        cpu = usage.ru_utime + usage.ru_stime
        # Not bwrap's own ru_maxrss: vfork()ed from us, it inherits our peak RSS across the exec.
        peak = 0
        self.open_init(status)
        if self.init_pidfd is not None and self.init_pid is not None:
            try:
                if not select.select([self.init_pidfd], [], [], timeout)[0]:
                    signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
                    select.select([self.init_pidfd], [], [], timeout)
                with contextlib.suppress(ChildProcessError):
                    pid, _, init_usage = os.wait4(self.init_pid, os.WNOHANG)
                    if pid:
                        cpu += init_usage.ru_utime + init_usage.ru_stime
                        peak = max(peak, init_usage.ru_maxrss)
            finally:
                os.close(self.init_pidfd)
                self.init_pidfd = None
        return cpu, peak * 1024


def become_subreaper() -> None:
    """Make orphaned descendants (bwrap's init) our children, so we can reap them and read their rusage."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
