"""The `process` backend: bubblewrap namespaces, rlimits, a uid per slot and a seccomp filter."""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

from rlvr.sandbox.backend import Backend, SandboxUnavailable
from rlvr.sandbox.capture import Capture, capture
from rlvr.sandbox.limits import Limits, RunResult
from rlvr.sandbox.memory import looks_out_of_memory
from rlvr.sandbox.seccomp import UnsupportedArchitecture, build_filter
from rlvr.sandbox.slots import DEFAULT_SLOTS, DEFAULT_UID_BASE, SlotPool

WORKDIR = "/w"
UNSAFE_ENV = "RLVR_UNSAFE_NO_SANDBOX"
MIB = 1 << 20
_PR_SET_CHILD_SUBREAPER = 36
# bwrap's pid-1 reaper runs in the sandbox's user namespace under the slot uid, so it counts against
# RLIMIT_NPROC there (the outer bwrap lives in the parent namespace, whose count has no limit).
_BWRAP_PROCESSES = 1
_SANDBOX_ENV = {
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


def _memfd(data: bytes, name: str = "rlvr") -> int:
    """An fd holding `data`, positioned at its start (for bwrap `--file`/`--seccomp`, or a stdin)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _TOP_LEVEL:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC:
        args += ["--ro-bind-try", path, path]
    return args


class ProcessBackend(Backend):
    """Runs commands under bubblewrap (Debian/Ubuntu package `bubblewrap`).

    Per run: new user, pid, net, ipc, uts, mount and cgroup namespaces; a read-only bind of /usr;
    a tmpfs work dir `/w` of `workdir_mb` (also `$HOME`, `$TMPDIR` and `/tmp`); a fresh /proc and a
    minimal /dev; everything else read-only; `--new-session` (no controlling terminal); a seccomp
    filter (see `rlvr.sandbox.seccomp`); rlimits for CPU, address space, data, processes, open files
    and file size; a pid namespace whose init dies with the run, so nothing it started survives.
    When the host runs as root, each concurrent run gets its own unprivileged uid (`uid_base + slot`),
    which makes RLIMIT_NPROC a per-run limit; otherwise runs use the caller's uid.
    """

    name = "process"

    def __init__(
        self, *, uid_base: int = DEFAULT_UID_BASE, slots: int = DEFAULT_SLOTS, bwrap: str | None = None
    ) -> None:
        self.bwrap = bwrap or shutil.which("bwrap") or "/usr/bin/bwrap"
        self.setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        self.prlimit = shutil.which("prlimit") or "/usr/bin/prlimit"
        self.slots = SlotPool(uid_base, slots) if os.geteuid() == 0 else None
        self._checked = False
        self._seccomp: bytes | None = None
        self._binds = _system_binds()

    # -- availability ------------------------------------------------------------------------------
    def check(self) -> None:
        if self._checked:
            return
        for tool, package in (
            (self.bwrap, "bubblewrap"),
            (self.setpriv, "util-linux"),
            (self.prlimit, "util-linux"),
        ):
            if not os.access(tool, os.X_OK):
                raise SandboxUnavailable(
                    f"{tool} not found: the process sandbox needs it; install it with `apt-get install {package}`"
                )
        try:
            self._seccomp = build_filter()
        except UnsupportedArchitecture as e:
            raise SandboxUnavailable(f"{e}; use the docker backend on this machine") from e
        _become_subreaper()
        self._checked = True  # the probe run below goes through the normal path
        probe = self.run(["/bin/sh", "-c", "echo ok"], limits=Limits(wall_seconds=20.0, cpu_seconds=10.0))
        if probe.stdout != b"ok\n":
            self._checked = False
            raise SandboxUnavailable(
                "bubblewrap could not create a sandbox here: "
                f"{probe.sandbox_error or probe.stderr.decode(errors='replace').strip()!r} (exit {probe.exit_code}). "
                "It needs unprivileged user namespaces: `sysctl -w kernel.unprivileged_userns_clone=1` "
                "and `sysctl -w user.max_user_namespaces=10000`; inside a container, run it with "
                "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined` or use the docker backend"
            )

    # -- one run ---------------------------------------------------------------------------------
    def run(
        self,
        command: list[str],
        *,
        files: Mapping[str, bytes] | None = None,
        stdin: bytes = b"",
        limits: Limits = Limits(),
        collect: Sequence[str] = (),
    ) -> RunResult:
        self.check()
        if self.slots is None:
            return self._run_as(os.getuid(), command, files or {}, stdin, limits, collect)
        with self.slots.acquire() as uid:
            return self._run_as(uid, command, files or {}, stdin, limits, collect)

    def _run_as(
        self,
        uid: int,
        command: list[str],
        files: Mapping[str, bytes],
        stdin: bytes,
        limits: Limits,
        collect: Sequence[str],
    ) -> RunResult:
        owned: list[int] = []  # fds to close after the run
        try:
            for path in list(files) + list(collect):
                _check_relative(path)
            seccomp_fd = _memfd(self._seccomp or b"", "seccomp")
            owned.append(seccomp_fd)
            status_r, status_w = os.pipe()
            owned += [status_r, status_w]
            file_args: list[str] = []
            made_dirs: set[str] = set()
            file_fds: list[int] = []
            for path, data in files.items():
                parent = os.path.dirname(path)
                while parent and parent not in made_dirs:
                    made_dirs.add(parent)
                    file_args[:0] = ["--dir", f"{WORKDIR}/{parent}"]
                    parent = os.path.dirname(parent)
                fd = _memfd(data, "file")
                owned.append(fd)
                file_fds.append(fd)
                file_args += ["--perms", "0755", "--file", str(fd), f"{WORKDIR}/{path}"]
            collect_pipes: dict[str, tuple[int, int]] = {}
            for path in collect:
                r, w = os.pipe()
                owned += [r, w]
                collect_pipes[path] = (r, w)
            argv = self._argv(uid, command, limits, seccomp_fd, status_w, file_args, collect_pipes)
            stdin_fd = _memfd(stdin, "stdin")
            owned.append(stdin_fd)
            pass_fds = [seccomp_fd, status_w, *file_fds, *(w for _, w in collect_pipes.values())]
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            start = time.monotonic()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=stdin_fd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    pass_fds=pass_fds,
                    env={},
                    start_new_session=True,
                )
            except OSError as e:
                return RunResult(exit_code=None, sandbox_error=f"could not start bwrap: {e}")
            # Our copies of the write ends must go, or EOF would never come.
            os.close(status_w)
            owned.remove(status_w)
            for _, (_, w) in collect_pipes.items():
                os.close(w)
                owned.remove(w)
            assert proc.stdout is not None and proc.stderr is not None
            pipes = {
                "stdout": (proc.stdout.fileno(), limits.output_bytes),
                "stderr": (proc.stderr.fileno(), limits.output_bytes),
                "status": (status_r, 1 << 16),
            }
            for path, (r, _) in collect_pipes.items():
                pipes["collect:" + path] = (r, limits.file_size_mb * MIB + 1)
            killer = _Run(proc)
            seen = capture(
                pipes,
                deadline=start + limits.wall_seconds,
                kill=lambda so_far: killer.kill(bytes(so_far.streams["status"].data)),
                kill_on_overflow=frozenset({"stdout", "stderr"}),
            )
            return self._result(proc, seen, killer, limits, start, collect)
        finally:
            for fd in owned:
                os.close(fd)

    def _argv(
        self,
        uid: int,
        command: list[str],
        limits: Limits,
        seccomp_fd: int,
        status_fd: int,
        file_args: list[str],
        collect_pipes: Mapping[str, tuple[int, int]],
    ) -> list[str]:
        argv = [self.setpriv]
        if os.geteuid() == 0:
            argv += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        # The parent-death signal must be set after the uid change (which clears it): setpriv does so.
        argv += ["--pdeathsig", "KILL", "--", self.bwrap]
        argv += ["--unshare-all", "--unshare-user", "--uid", str(uid), "--gid", str(uid)]
        argv += ["--hostname", "sandbox", "--die-with-parent", "--new-session"]
        argv += self._binds
        argv += ["--proc", "/proc", "--dev", "/dev"]
        argv += ["--size", str(limits.workdir_mb * MIB), "--tmpfs", WORKDIR, "--symlink", WORKDIR, "/tmp"]
        argv += file_args
        argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
        for key, value in _SANDBOX_ENV.items():
            argv += ["--setenv", key, value]
        argv += ["--seccomp", str(seccomp_fd), "--json-status-fd", str(status_fd), "--"]
        argv += self._prlimit_argv(limits, extra_processes=1 if collect_pipes else 0)
        if collect_pipes:
            argv += ["/bin/bash", "-c", _collect_script(collect_pipes), "collect", *command]
        else:
            argv += command
        return argv

    def _prlimit_argv(self, limits: Limits, extra_processes: int) -> list[str]:
        cpu = max(1, math.ceil(limits.cpu_seconds))
        memory = limits.memory_mb * MIB
        nproc = limits.processes + _BWRAP_PROCESSES + extra_processes
        fsize = limits.file_size_mb * MIB
        # CPU: SIGXCPU at the soft limit, SIGKILL one second later for programs that catch it.
        return [
            self.prlimit,
            f"--cpu={cpu}:{cpu + 1}",
            f"--as={memory}",
            f"--data={memory}",
            f"--nproc={nproc}",
            f"--nofile={limits.open_files}",
            f"--fsize={fsize}",
            "--core=0",
            "--",
        ]

    def _result(
        self,
        proc: subprocess.Popen,
        seen: Capture,
        killer: _Run,
        limits: Limits,
        start: float,
        collect: Sequence[str],
    ) -> RunResult:
        streams = seen.streams
        _, cpu, peak_rss = killer.finish(bytes(streams["status"].data))
        wall = time.monotonic() - start
        status = _parse_status(bytes(streams["status"].data))
        stderr = bytes(streams["stderr"].data)
        result = RunResult(
            exit_code=None,
            stdout=bytes(streams["stdout"].data),
            stderr=stderr,
            stdout_truncated=streams["stdout"].overflowed,
            stderr_truncated=streams["stderr"].overflowed,
            wall_seconds=wall,
            cpu_seconds=cpu,
            output_exceeded=seen.overflowed is not None,
        )
        if seen.wall_timed_out:
            result.timed_out = True
            result.signal = signal.SIGKILL
            return result
        if result.output_exceeded:
            result.signal = signal.SIGKILL
            return result
        code = status.get("exit-code")
        if code is None:
            result.sandbox_error = (
                f"bwrap failed (exit {proc.returncode}): {stderr.decode(errors='replace').strip()}"
            )
            return result
        if code > 128 and code - 128 < signal.NSIG:
            result.signal = code - 128
        else:
            result.exit_code = code
        # SIGXCPU is RLIMIT_CPU's soft limit; the hard one (a second later) is a SIGKILL.
        result.timed_out = result.signal == signal.SIGXCPU or cpu > limits.cpu_seconds
        if not result.timed_out and result.exit_code != 0:
            result.memory_exceeded = looks_out_of_memory(result, peak_rss, limits)
        for path in collect:
            data = bytes(streams["collect:" + path].data)
            if data[:1] == b"1":
                result.files[path] = data[1:]
        return result


def _check_relative(path: str) -> None:
    norm = os.path.normpath(path)
    if os.path.isabs(path) or norm.startswith("..") or norm in (".", "") or norm != path:
        raise ValueError(
            f"sandbox file path {path!r} must be a plain relative path inside the work dir, like 'a/b.txt'"
        )


def _collect_script(collect_pipes: Mapping[str, tuple[int, int]]) -> str:
    """A bash script running "$@" with the collect pipes closed, then writing each file to its pipe.

    Each pipe carries "1" + the file's bytes, or nothing when the file does not exist.
    """
    closing = " ".join(f"{w}>&-" for _, w in collect_pipes.values())
    lines = [f'"$@" {closing}', "s=$?"]
    for path, (_, w) in collect_pipes.items():
        q = shlex.quote(path)
        lines.append(f"{{ test -f {q} && {{ printf 1; cat -- {q}; }}; }} >&{w} 2>/dev/null; exec {w}>&-")
    lines.append("exit $s")
    return "\n".join(lines)


def _parse_status(data: bytes) -> dict[str, int]:
    """Merge bwrap's `--json-status-fd` documents: `child-pid` at start, `exit-code` once the command ran.

    The first `child-pid` wins: it is written before the command starts, and the pid is later
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


class _Run:
    """One started bwrap: kills it from outside and reaps it, including its pid-1 init.

    bwrap's outer process exits as soon as its init reports the exit code, so the init (whose
    reaped children carry the program's CPU time) is re-parented; we are a child subreaper, so it
    comes to us and `finish` can collect its rusage and be sure its namespace is empty.
    """

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.init_pidfd: int | None = None

    def _open_init(self, status: bytes) -> None:
        child = _parse_status(status).get("child-pid")
        if child is not None and self.init_pidfd is None:
            with contextlib.suppress(ProcessLookupError):
                self.init_pidfd = os.pidfd_open(child)
        self.init_pid = child

    def kill(self, status: bytes) -> None:
        """SIGKILL the sandbox's init (the kernel then kills its whole pid namespace) and bwrap."""
        self._open_init(status)
        if self.init_pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def finish(self, status: bytes, timeout: float = 5.0) -> tuple[int, float, int]:
        """Reap everything; return (bwrap's wait status, CPU seconds of the tree, peak RSS in bytes)."""
        _, wait_status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(wait_status)
        cpu = usage.ru_utime + usage.ru_stime
        peak = usage.ru_maxrss
        self._open_init(status)
        if self.init_pidfd is not None:
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
        return wait_status, cpu, peak * 1024


def _become_subreaper() -> None:
    """Make orphaned descendants (bwrap's init) our children, so we can reap them and read their rusage."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SandboxUnavailable(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")
