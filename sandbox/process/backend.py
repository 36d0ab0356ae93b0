"""The `process` backend: bubblewrap namespaces, rlimits, a uid per slot and a seccomp filter."""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

from rlvr.sandbox import drivers
from rlvr.sandbox.backend import Backend, SandboxUnavailable
from rlvr.sandbox.limits import Limits, RunResult
from rlvr.sandbox.process.bwrap import (
    MIB,
    SYSTEM_PYTHON,
    WORKDIR,
    Bwrap,
    Launched,
    become_subreaper,
    check_relative,
    memfd,
    parse_status,
    prlimit_argv,
    rlimits,
    system_binds,
)
from rlvr.sandbox.process.capture import Capture, capture
from rlvr.sandbox.process.cgroup import MemoryCgroup
from rlvr.sandbox.process.memory import looks_out_of_memory
from rlvr.sandbox.process.seccomp import UnsupportedArchitecture, build_filter
from rlvr.sandbox.process.slots import DEFAULT_SLOTS, DEFAULT_UID_BASE, SlotPool
from rlvr.sandbox.process.unshare import Unshare, unshare_binds

# bwrap's pid-1 reaper runs in the sandbox's user namespace under the run's uid, so it counts against
# RLIMIT_NPROC there (the outer bwrap lives in the parent namespace, whose count has no limit).
_BWRAP_PROCESSES = 1
_DRIVER = drivers.source("batch_driver")
BATCH_SIZE = 16  # runs per sandbox start in run_many (2 pipes each are passed into the sandbox)
# The host re-checks each batched run's wall time from when its pipes closed; this absorbs the
# driver's own work between runs (and the sandbox start before the first one).
_BATCH_WALL_SLACK = 1.0
_BATCH_START_SECONDS = 5.0
_CGROUP_SLACK_BYTES = 64 * MIB
# A single run's exit status comes from bwrap, which reports a death by signal n as 128+n, the same
# number as exit(128+n). This parent (perl: ~1 ms to start, in every Debian and in the sandbox image)
# waits for the command and writes which of the two it was to a pipe the command cannot inherit.
_PERL = "/usr/bin/perl"
_EXIT_REPORTER = r"""
my $fd = shift @ARGV;
open(my $report, ">&=", $fd) or die "exit reporter: fd $fd: $!\n";
fcntl($report, 2, 1);
my $pid = fork() // die "exit reporter: fork: $!\n";
if ($pid == 0) { exec { $ARGV[0] } @ARGV; print STDERR "failed to execute $ARGV[0]: $!\n"; exit 127; }
waitpid($pid, 0);
my ($sig, $code) = ($? & 127, $? >> 8);
syswrite($report, $sig ? "signal $sig" : "exit $code");
exit($sig ? 128 + $sig : $code);
"""


class ProcessBackend(Backend):
    """Runs commands under bubblewrap (Debian/Ubuntu package `bubblewrap`).

    Per run: new user, pid, net, ipc, uts, mount and cgroup namespaces; a read-only bind of /usr;
    a tmpfs work dir `/w` of `workdir_mb` (also `$HOME`, `$TMPDIR` and `/tmp`); a fresh /proc and a
    minimal read-only /dev; `--new-session` (no controlling terminal); a seccomp filter (see
    `rlvr.sandbox.process.seccomp`); rlimits for CPU, address space, data, processes, open files and file
    size; a pid namespace whose init dies with the run, so nothing it started survives. When the
    host runs as root, each concurrent run gets its own unprivileged uid (`uid_base + slot`), which
    makes RLIMIT_NPROC a per-run limit; otherwise runs use the caller's uid. As root with a cgroup
    v1 memory controller, each run also sits in its slot's memory cgroup (`rlvr.sandbox.process.cgroup`),
    capping the whole tree. `run_many` runs up to `BATCH_SIZE` stdins per sandbox start through an
    in-sandbox driver (`batch_driver.py`).
    """

    name = "process"

    def __init__(
        self,
        *,
        uid_base: int = DEFAULT_UID_BASE,
        slots: int = DEFAULT_SLOTS,
        launcher: str = "auto",
        memory_cgroups: bool | None = None,
    ) -> None:
        """`launcher`: "bwrap", "unshare" (the fallback), or "auto" (bwrap when installed).

        `memory_cgroups`: also cap each run's whole process tree in a per-slot cgroup when the host
        allows it (root, cgroup v1 memory controller). Without it, memory is capped per process only,
        so a fork bomb could reach `processes x memory_mb`; the cap costs a few ms per sandbox start,
        and is on by default. None reads `RLVR_SANDBOX_MEMORY_CGROUP` ("0" turns it off).
        """
        if launcher not in ("auto", "bwrap", "unshare"):
            raise ValueError(f"unknown sandbox launcher {launcher!r}; use 'auto', 'bwrap' or 'unshare'")
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        bwrap = shutil.which("bwrap") or "/usr/bin/bwrap"
        if launcher == "auto":
            launcher = "bwrap" if os.access(bwrap, os.X_OK) or not shutil.which("unshare") else "unshare"
        self.launcher: Bwrap | Unshare
        if launcher == "bwrap":
            self.launcher = Bwrap(bwrap, setpriv, tuple(system_binds()))
            self._tools = {bwrap: "bubblewrap", setpriv: "util-linux"}
        else:
            unshare = shutil.which("unshare") or "/usr/bin/unshare"
            self.launcher = Unshare(unshare, setpriv, unshare_binds())
            self._tools = {unshare: "util-linux", setpriv: "util-linux", SYSTEM_PYTHON: "python3"}
        self.prlimit = shutil.which("prlimit") or "/usr/bin/prlimit"
        self.exit_reporter = os.access(_PERL, os.X_OK)  # without perl, 128+n reads as signal n
        self.slots = SlotPool(uid_base, slots) if os.geteuid() == 0 else None
        self._seccomp = b""
        if memory_cgroups is None:
            memory_cgroups = os.environ.get("RLVR_SANDBOX_MEMORY_CGROUP", "1") != "0"
        # Whether each run also sits in a per-slot memory cgroup capping its whole process tree.
        self.memory_cgroups = memory_cgroups and isinstance(self.launcher, Bwrap) and MemoryCgroup.available()
        self._checked = False
        self._check_lock = threading.RLock()  # the probe run re-enters check()

    # -- availability ------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise SandboxUnavailable (saying how to fix it) unless a probe sandbox runs here."""
        with self._check_lock:
            if not self._checked:
                self._check()

    def _check(self) -> None:
        for tool, package in [*self._tools.items(), (self.prlimit, "util-linux")]:
            if not os.access(tool, os.X_OK):
                raise SandboxUnavailable(
                    f"{tool} not found: the process sandbox needs it; install it with `apt-get install {package}`"
                    " (bubblewrap is preferred; without it, util-linux `unshare` is the fallback)"
                )
        try:
            self._seccomp = build_filter()
        except UnsupportedArchitecture as e:
            raise SandboxUnavailable(f"{e}; use the docker backend on this machine") from e
        try:
            become_subreaper()
        except OSError as e:
            raise SandboxUnavailable(f"{e}: the process backend needs Linux >= 3.4") from e
        self._checked = True  # the probe below goes through the normal path
        probe = self.run(["/bin/sh", "-c", "echo ok"], limits=Limits(wall_seconds=20.0, cpu_seconds=10.0))
        if probe.stdout != b"ok\n":
            self._checked = False
            why = probe.sandbox_error or probe.stderr.decode(errors="replace").strip()
            raise SandboxUnavailable(
                f"{self.launcher.name} could not create a sandbox here: {why!r} (exit {probe.exit_code}). "
                "It needs unprivileged user namespaces: `sysctl -w kernel.unprivileged_userns_clone=1` "
                "and `sysctl -w user.max_user_namespaces=10000`; inside a container, run it with "
                "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`, or use the docker backend"
            )

    @contextlib.contextmanager
    def _uid(self) -> Iterator[int]:
        if self.slots is None:
            yield os.getuid()
        else:
            with self.slots.acquire() as uid:
                yield uid

    def _spawn(
        self,
        uid: int,
        payload: list[str],
        limits: Limits,
        files: dict[str, int],
        stdin_fd: int,
        pass_fds: list[int],
    ) -> tuple[Launched, int] | str:
        """Start `payload` in a new sandbox; return it with the read end of its status pipe, or an error.

        `files` (work-dir path -> memfd) are copied in; `pass_fds` stay open into the sandbox. With a
        memory cgroup, bwrap's sandbox process is held (`--block-fd`) until it is in the group.
        """
        cgroup = self._memory_cgroup(uid)
        seccomp_fd = memfd(self._seccomp, "seccomp")
        status_r, status_w = os.pipe()
        hold = (os.pipe(), os.pipe()) if cgroup else None  # (info r, w), (block r, w)
        extra: list[int] = []
        try:
            argv, extra = self.launcher.command(uid, limits.workdir_mb, seccomp_fd, status_w, files, payload)
            if hold is not None:
                (_, info_w), (block_r, _) = hold
                at = argv.index("--unshare-all")
                argv[at:at] = ["--info-fd", str(info_w), "--block-fd", str(block_r)]
                extra += [info_w, block_r]
            inherited = [seccomp_fd, status_w, *files.values(), *pass_fds, *extra]
            for fd in inherited:
                os.set_inheritable(fd, True)
            proc = subprocess.Popen(
                argv,
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=inherited,
                env={},
                start_new_session=True,
            )
        except OSError as e:
            os.close(status_r)
            if hold is not None:
                os.close(hold[0][0])
                os.close(hold[1][1])
            return f"could not start {self.launcher.name}: {e}"
        finally:
            for fd in (seccomp_fd, *extra):
                os.close(fd)
            os.close(status_w)  # ours must go, or EOF would never come
        launched = Launched(proc)
        if hold is not None and cgroup is not None:
            (info_r, _), (_, block_w) = hold
            launched.memory_cgroup = self._join_cgroup(cgroup, limits, info_r, block_w)
        return launched, status_r

    def _memory_cgroup(self, uid: int) -> MemoryCgroup | None:
        if not self.memory_cgroups:
            return None
        try:
            return MemoryCgroup(uid)
        except OSError:
            self.memory_cgroups = False  # not allowed after all: rlimits alone, as on hosts without cgroups
            return None

    def _join_cgroup(
        self, cgroup: MemoryCgroup, limits: Limits, info_r: int, block_w: int
    ) -> MemoryCgroup | None:
        """Put the held sandbox into `cgroup`, then let it go on; the group, or None if that failed."""
        try:
            # The tmpfs work dir is charged to the group too; the slack covers bwrap and page cache.
            cgroup.prepare((limits.memory_mb + limits.workdir_mb) * MIB + _CGROUP_SLACK_BYTES)
            info = b""
            while b"}" not in info and select.select([info_r], [], [], _BATCH_START_SECONDS)[0]:
                chunk = os.read(info_r, 4096)
                if not chunk:
                    break
                info += chunk
            child = parse_status(info).get("child-pid")
            if child is None:
                return None  # bwrap failed before starting the sandbox; its status says why
            cgroup.attach(child)
            return cgroup
        except OSError:
            self.memory_cgroups = False
            return None
        finally:
            with contextlib.suppress(BrokenPipeError):
                os.write(block_w, b"go")
            os.close(info_r)
            os.close(block_w)

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
        for path in [*(files or {}), *collect]:
            check_relative(path)
        with self._uid() as uid, _Fds() as fds:
            file_fds = {path: fds.own(memfd(data, "file")) for path, data in (files or {}).items()}
            collect_pipes = {path: fds.pipe() for path in collect}
            report = fds.pipe() if self.exit_reporter else None
            helpers = _BWRAP_PROCESSES + (1 if collect else 0) + (1 if report else 0)
            payload = prlimit_argv(self.prlimit, rlimits(limits, helpers))
            if collect:
                payload += ["/bin/bash", "-c", _collect_script(collect_pipes), "collect"]
            if report is not None:
                payload += [_PERL, "-e", _EXIT_REPORTER, str(report[1])]
            payload += command
            stdin_fd = fds.own(memfd(stdin, "stdin"))
            start = time.monotonic()
            writers = [w for _, w in collect_pipes.values()] + ([report[1]] if report else [])
            spawned = self._spawn(uid, payload, limits, file_fds, stdin_fd, writers)
            if isinstance(spawned, str):
                return RunResult(exit_code=None, sandbox_error=spawned)
            launched, status_r = spawned
            fds.own(status_r)
            for w in writers:
                fds.close(w)
            stdout, stderr = launched.proc.stdout, launched.proc.stderr
            assert stdout is not None and stderr is not None
            pipes = {
                "stdout": (stdout.fileno(), limits.output_bytes),
                "stderr": (stderr.fileno(), limits.output_bytes),
                "status": (status_r, 1 << 16),
                **{f"collect:{p}": (r, limits.file_size_mb * MIB + 1) for p, (r, _) in collect_pipes.items()},
            }
            if report is not None:
                pipes["report"] = (report[0], 64)
            seen = capture(
                pipes,
                deadline=start + limits.wall_seconds,
                kill=lambda so_far: launched.kill(bytes(so_far.streams["status"].data)),
                kill_on_overflow=frozenset({"stdout", "stderr"}),
            )
            status = bytes(seen.streams["status"].data)
            cpu, peak_rss = launched.finish(status)
            stdout.close()
            stderr.close()
            result = _single_result(
                seen, parse_status(status), launched, limits, time.monotonic() - start, cpu
            )
            if report is not None:
                _read_exit_report(result, bytes(seen.streams["report"].data))
            if result.sandbox_error is None and not (seen.wall_timed_out or seen.overflowed):
                _classify(result, cpu, peak_rss, limits)
                if launched.memory_cgroup is not None and launched.memory_cgroup.oom_killed():
                    result.memory_exceeded, result.timed_out = True, False
            for path in collect:
                data = bytes(seen.streams[f"collect:{path}"].data)
                if data[:1] == b"1":
                    result.files[path] = data[1:]
            return result

    # -- many runs of one command ----------------------------------------------------------------
    def run_many(
        self,
        command: list[str],
        *,
        files: Mapping[str, bytes] | None = None,
        stdins: Sequence[bytes],
        limits: Limits = Limits(),
    ) -> list[RunResult]:
        """Run `command` once per stdin, up to BATCH_SIZE runs per sandbox start.

        Each batched run still gets its own rlimits, wall limit, capped output pipes, a work dir
        restored to `files`, and a clean process table (everything of the previous run is killed).
        Runs the driver could not report (it was killed, or the sandbox failed) are redone one
        sandbox each with `run`, so a hostile program can only cost time, never a wrong result.
        """
        self.check()
        for path in files or {}:
            check_relative(path)
        results: list[RunResult | None] = []
        if len(stdins) > 1 and os.access(SYSTEM_PYTHON, os.X_OK):
            for i in range(0, len(stdins), BATCH_SIZE):
                results += self._batch(command, dict(files or {}), stdins[i : i + BATCH_SIZE], limits)
        else:
            results = [None] * len(stdins)
        return [
            done if done is not None else self.run(command, files=files, stdin=stdin, limits=limits)
            for done, stdin in zip(results, stdins)
        ]

    def _batch(
        self, command: list[str], files: dict[str, bytes], stdins: Sequence[bytes], limits: Limits
    ) -> list[RunResult | None]:
        with self._uid() as uid, _Fds() as fds:
            control_r, control_w = fds.pipe()
            outputs = [(fds.pipe(), fds.pipe()) for _ in stdins]
            manifest = {
                "workdir": WORKDIR,
                "command": list(command),
                "files": files,
                "limits": rlimits(limits, _BWRAP_PROCESSES + 1),
                "wall_seconds": float(limits.wall_seconds),
                "runs": [
                    {"stdin": stdin, "stdout": out[1], "stderr": err[1]}
                    for stdin, (out, err) in zip(stdins, outputs)
                ],
            }
            manifest_fd = fds.own(memfd(marshal.dumps(manifest, 4), "manifest"))
            payload = [SYSTEM_PYTHON, "-I", "-S", "-c", _DRIVER, str(manifest_fd), str(control_w)]
            write_ends = [control_w, *(w for out, err in outputs for w in (out[1], err[1]))]
            stdin_fd = fds.own(memfd(b"", "stdin"))
            start = time.monotonic()
            spawned = self._spawn(uid, payload, limits, {}, stdin_fd, [manifest_fd, *write_ends])
            if isinstance(spawned, str):
                return [None] * len(stdins)
            launched, status_r = spawned
            fds.own(status_r)
            for w in write_ends:
                fds.close(w)
            driver_out, driver_err = launched.proc.stdout, launched.proc.stderr
            assert driver_out is not None and driver_err is not None
            pipes = {
                "control": (control_r, 1 << 16),
                "status": (status_r, 1 << 16),
                "driver:stdout": (driver_out.fileno(), 1 << 16),
                "driver:stderr": (driver_err.fileno(), 1 << 16),
            }
            for i, (out, err) in enumerate(outputs):
                pipes[f"stdout:{i}"] = (out[0], limits.output_bytes)
                pipes[f"stderr:{i}"] = (err[0], limits.output_bytes)
            dropped = frozenset(name for name in pipes if name.startswith(("stdout:", "stderr:")))
            seen = capture(
                pipes,
                deadline=start
                + _BATCH_START_SECONDS
                + len(stdins) * (limits.wall_seconds + _BATCH_WALL_SLACK),
                kill=lambda so_far: launched.kill(bytes(so_far.streams["status"].data)),
                drop_on_overflow=dropped,
            )
            launched.finish(bytes(seen.streams["status"].data))
            driver_out.close()
            driver_err.close()
            for name in dropped:
                if seen.streams[name].dropped:
                    fds.forget(pipes[name][0])
            if launched.memory_cgroup is not None and launched.memory_cgroup.oom_killed():
                # Some run hit the group's memory cap, but which one the counter cannot say: redo
                # them all one sandbox each, where it can.
                return [None] * len(stdins)
            return _batch_results(seen, len(stdins), start, limits)


def _single_result(
    seen: Capture, status: dict[str, int], launched: Launched, limits: Limits, wall: float, cpu: float
) -> RunResult:
    streams = seen.streams
    result = RunResult(
        exit_code=None,
        stdout=bytes(streams["stdout"].data),
        stderr=bytes(streams["stderr"].data),
        stdout_truncated=streams["stdout"].overflowed,
        stderr_truncated=streams["stderr"].overflowed,
        wall_seconds=wall,
        cpu_seconds=cpu,
        output_exceeded=seen.overflowed is not None,
        timed_out=seen.wall_timed_out,
    )
    if seen.wall_timed_out or seen.overflowed:
        result.signal = signal.SIGKILL  # we killed it
        return result
    code = status.get("exit-code")
    if code is None:  # bwrap writes exit-code only once the command ran; otherwise it failed itself
        text = result.stderr.decode(errors="replace").strip()
        result.sandbox_error = f"bwrap failed (exit {launched.proc.returncode}): {text}"
    elif code > 128 and code - 128 < signal.NSIG:  # as a shell reports it; see _read_exit_report
        result.signal = code - 128
    elif code < 0:  # the unshare fallback's init reports a signal death as -n
        result.signal = -code
    else:
        result.exit_code = code
    return result


def _read_exit_report(result: RunResult, report: bytes) -> None:
    """Tell exit(128+n) from a death by signal n, using the exit reporter's line when it agrees with
    the status bwrap gave (the command cannot write that pipe, and a report that does not match the
    number is ignored, so the most a forged one could do is pick between the two readings of it)."""
    if result.signal is None or result.timed_out or result.output_exceeded:
        return  # a clear exit code, or a run we killed ourselves
    if report == b"exit %d" % (128 + result.signal):
        result.exit_code, result.signal = 128 + result.signal, None


def _batch_results(seen: Capture, count: int, start: float, limits: Limits) -> list[RunResult | None]:
    """One result per run the driver reported (None for the rest), from its control lines and our pipes."""
    reported: dict[int, list[str]] = {}
    for line in bytes(seen.streams["control"].data).decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 7 and fields[0].isdigit() and int(fields[0]) < count:
            reported[int(fields[0])] = fields
    results: list[RunResult | None] = []
    previous_end = start
    for i in range(count):
        out, err = seen.streams[f"stdout:{i}"], seen.streams[f"stderr:{i}"]
        end = max(out.eof_at or time.monotonic(), err.eof_at or time.monotonic())
        host_wall, previous_end = end - previous_end, end
        if i not in reported or seen.wall_timed_out:
            results.append(None)
            continue
        _, code, sig, cpu, wall, peak, timed_out = reported[i]
        result = RunResult(
            exit_code=int(code) if int(code) >= 0 else None,
            signal=int(sig) or None,
            stdout=bytes(out.data),
            stderr=bytes(err.data),
            stdout_truncated=out.overflowed,
            stderr_truncated=err.overflowed,
            wall_seconds=float(wall),
            cpu_seconds=float(cpu),
            output_exceeded=out.overflowed or err.overflowed,
            # Our own clock bounds the driver's: a run cannot hide time it spent.
            timed_out=timed_out == "1" or host_wall > limits.wall_seconds + _BATCH_WALL_SLACK,
        )
        if not (result.timed_out or result.output_exceeded):
            _classify(result, float(cpu), int(peak), limits)
        results.append(result)
    return results


def _classify(result: RunResult, cpu: float, peak_rss: int, limits: Limits) -> None:
    """Set `timed_out` for CPU-limit deaths and `memory_exceeded` for likely out-of-memory deaths."""
    # SIGXCPU is RLIMIT_CPU's soft limit; the hard one (a second later) is a SIGKILL.
    result.timed_out = result.signal == signal.SIGXCPU or cpu > limits.cpu_seconds
    if not result.timed_out and result.exit_code != 0:
        result.memory_exceeded = looks_out_of_memory(result, peak_rss, limits)


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


class _Fds:
    """The fds one run opened, closed together when it ends (each exactly once)."""

    def __init__(self) -> None:
        self._open: list[int] = []

    def __enter__(self) -> _Fds:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._open:
            os.close(fd)
        self._open.clear()

    def own(self, fd: int) -> int:
        self._open.append(fd)
        return fd

    def pipe(self) -> tuple[int, int]:
        r, w = os.pipe()
        return self.own(r), self.own(w)

    def close(self, fd: int) -> None:
        self._open.remove(fd)
        os.close(fd)

    def forget(self, fd: int) -> None:
        """`fd` was closed elsewhere (by `capture`)."""
        self._open.remove(fd)
