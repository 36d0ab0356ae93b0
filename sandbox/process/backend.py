"""The `process` backend: bubblewrap namespaces, rlimits, a uid per slot and a seccomp filter."""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rlvr.sandbox import drivers
from rlvr.sandbox.backend import Backend, SandboxUnavailable
from rlvr.sandbox.exit_status import hit_cpu_limit, signal_number
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
    rlimits,
    system_binds,
)
from rlvr.sandbox.process.capture import Capture, capture
from rlvr.sandbox.process.cgroup import MemoryCgroup
from rlvr.sandbox.process.memory import looks_out_of_memory
from rlvr.sandbox.process.seccomp import UnsupportedArchitecture, build_filter
from rlvr.sandbox.process.slots import DEFAULT_SLOTS, DEFAULT_UID_BASE, SlotPool
from rlvr.sandbox.process.unshare import Unshare, unshare_binds
from rlvr.sandbox.process.warm import Started, WarmPool

_DRIVER = drivers.source("batch_driver")
BATCH_SIZE = 16  # runs per sandbox in run_many (2 pipes each are handed to the driver)
DEFAULT_WARM = 2  # sandboxes kept started per work-dir size: one per concurrent caller is enough
# The host re-checks each run's wall time on its own clock, from when the previous run's pipes
# closed; this absorbs the driver's own work between runs.
_WALL_SLACK = 1.0
_START_SECONDS = 10.0  # a sandbox's driver must say it is ready within this
_CGROUP_SLACK_BYTES = 64 * MIB


class ProcessBackend(Backend):
    """Runs commands under bubblewrap (Debian/Ubuntu package `bubblewrap`).

    Per run: new user, pid, net, ipc, uts, mount and cgroup namespaces; a read-only bind of /usr;
    a tmpfs work dir `/w` of `workdir_mb` (also `$HOME`, `$TMPDIR` and `/tmp`); a fresh /proc and a
    minimal read-only /dev; `--new-session` (no controlling terminal); a seccomp filter (see
    `rlvr.sandbox.process.seccomp`); rlimits for CPU, address space, data, processes, open files and
    file size; a pid namespace whose init dies with the run, so nothing it started survives. When the
    host runs as root, each concurrent sandbox gets its own unprivileged uid (`uid_base + slot`),
    which makes RLIMIT_NPROC a per-run limit; otherwise runs use the caller's uid. As root with a
    cgroup v1 memory controller, each sandbox also sits in its slot's memory cgroup
    (`rlvr.sandbox.process.cgroup`), capping the whole tree.

    Sandboxes are started ahead of demand (`rlvr.sandbox.process.warm`): each is fresh, runs one
    job through an in-sandbox driver (`batch_driver.py`) and is then torn down in the background.
    A `run` is a job of one run; `run_many` sends up to `BATCH_SIZE` stdins per job.
    """

    name = "process"

    def __init__(
        self,
        *,
        uid_base: int = DEFAULT_UID_BASE,
        slots: int = DEFAULT_SLOTS,
        launcher: str = "auto",
        memory_cgroups: bool | None = None,
        warm: int = DEFAULT_WARM,
    ) -> None:
        """`launcher`: "bwrap", "unshare" (the fallback), or "auto" (bwrap when installed).

        `memory_cgroups`: also cap each run's whole process tree in a per-slot cgroup when the host
        allows it (root, cgroup v1 memory controller). Without it, memory is capped per process only,
        so a fork bomb could reach `processes x memory_mb`. On by default; None reads
        `RLVR_SANDBOX_MEMORY_CGROUP` ("0" turns it off).

        `warm`: sandboxes kept started (each holding a slot) per recently used work-dir size; 0
        starts each one when a run asks for it.
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
            self._tools = {unshare: "util-linux", setpriv: "util-linux"}
        self._tools[SYSTEM_PYTHON] = "python3"  # runs the in-sandbox driver
        self.slots = SlotPool(uid_base, slots) if os.geteuid() == 0 else None
        self._seccomp = b""
        if memory_cgroups is None:
            memory_cgroups = os.environ.get("RLVR_SANDBOX_MEMORY_CGROUP", "1") != "0"
        # Whether each run also sits in a per-slot memory cgroup capping its whole process tree.
        self.memory_cgroups = memory_cgroups and isinstance(self.launcher, Bwrap) and MemoryCgroup.available()
        self.warm = WarmPool(self._start, self._teardown, size=warm)
        self._checked = False
        self._check_lock = threading.RLock()  # the probe run re-enters check()

    # -- availability ------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise SandboxUnavailable (saying how to fix it) unless a probe sandbox runs here."""
        with self._check_lock:
            if not self._checked:
                self._check()

    def _check(self) -> None:
        for tool, package in self._tools.items():
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

    def close(self) -> None:
        """Tear down the sandboxes kept ready (they also die with this process)."""
        self.warm.close()

    # -- starting and ending sandboxes -------------------------------------------------------------
    def _start(self, workdir_mb: int, wait: bool = False) -> Started | str | None:
        """A fresh sandbox with a `workdir_mb` work dir whose driver is ready for a job, or an error.

        When every slot is busy: None, or with `wait`, the wait for one (ready sandboxes of the pool
        give theirs up first).
        """
        slot = self.slots.try_take() if self.slots is not None else None
        while self.slots is not None and slot is None:
            if not wait:
                return None
            slot = self.slots.try_take() if self.warm.evict() else self.slots.take()
        uid = slot.uid if slot is not None else os.getuid()
        host_end, sandbox_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        payload = [SYSTEM_PYTHON, "-I", "-S", "-c", _DRIVER, str(sandbox_end.fileno())]
        try:
            spawned = self._spawn(uid, payload, workdir_mb, sandbox_end.fileno())
        finally:
            sandbox_end.close()
        if isinstance(spawned, str):
            host_end.close()
            if slot is not None:
                slot.release()
            return spawned
        launched, status_fd = spawned
        started = Started(launched, host_end, status_fd, slot, workdir_mb)
        if select.select([host_end], [], [], _START_SECONDS)[0] and host_end.recv(1) == b"R":
            launched.open_init(started.read_status())
            return started
        self._teardown(started)
        text = started.errors.decode(errors="replace").strip()
        return f"{self.launcher.name} failed to start a sandbox (exit {launched.proc.returncode}): {text}"

    def _spawn(
        self, uid: int, payload: list[str], workdir_mb: int, handoff_fd: int
    ) -> tuple[Launched, int] | str:
        """Start `payload` in a new sandbox; return it with the read end of its status pipe, or an error.

        `handoff_fd` stays open into the sandbox. With a memory cgroup, bwrap's sandbox process is
        held (`--block-fd`) until it is in the group.
        """
        cgroup = self._memory_cgroup(uid)
        seccomp_fd = memfd(self._seccomp, "seccomp")
        status_r, status_w = os.pipe()
        hold = (os.pipe(), os.pipe()) if cgroup else None  # (info r, w), (block r, w)
        extra: list[int] = []
        try:
            argv, extra = self.launcher.command(uid, workdir_mb, seccomp_fd, status_w, payload)
            if hold is not None:
                (_, info_w), (block_r, _) = hold
                at = argv.index("--unshare-all")
                argv[at:at] = ["--info-fd", str(info_w), "--block-fd", str(block_r)]
                extra += [info_w, block_r]
            inherited = [seccomp_fd, status_w, handoff_fd, *extra]
            for fd in inherited:
                os.set_inheritable(fd, True)
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,  # bwrap's own errors, read only when its driver never got ready
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
        os.set_blocking(status_r, False)
        launched = Launched(proc)
        if hold is not None and cgroup is not None:
            (info_r, _), (_, block_w) = hold
            launched.memory_cgroup = self._join_cgroup(cgroup, info_r, block_w)
        return launched, status_r

    def _memory_cgroup(self, uid: int) -> MemoryCgroup | None:
        if not self.memory_cgroups:
            return None
        try:
            return MemoryCgroup(uid)
        except OSError:
            self.memory_cgroups = False  # not allowed after all: rlimits alone, as on hosts without cgroups
            return None

    def _join_cgroup(self, cgroup: MemoryCgroup, info_r: int, block_w: int) -> MemoryCgroup | None:
        """Put the held sandbox into `cgroup`, then let it go on; the group, or None if that failed."""
        try:
            info = b""
            while b"}" not in info and select.select([info_r], [], [], _START_SECONDS)[0]:
                chunk = os.read(info_r, 4096)
                if not chunk:
                    break
                info += chunk
            child = parse_status(info).get("child-pid")
            if child is None:
                return None  # bwrap failed before starting the sandbox; its stderr says why
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

    def _teardown(self, started: Started) -> None:
        """Kill and reap `started` and free its slot; its status and bwrap's errors stay readable on it."""
        launched = started.launched
        started.handoff.close()
        launched.kill(started.read_status())
        launched.finish(started.read_status())
        select.select([started.status_fd], [], [], 1.0)  # bwrap is gone: its status ends at once
        started.read_status()
        os.close(started.status_fd)
        stderr = launched.proc.stderr
        if stderr is not None:
            os.set_blocking(stderr.fileno(), False)
            started.errors = stderr.read(4096) or b""
            stderr.close()
        if started.slot is not None:
            started.slot.release()

    # -- jobs --------------------------------------------------------------------------------------
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
        job = _Job(list(command), dict(files or {}), [stdin], limits, tuple(collect))
        done = self._execute(job)
        if isinstance(done, str):
            return RunResult(exit_code=None, sandbox_error=done)
        started, seen = done.started, done.seen
        result = _batch_results(done, job)[0]
        oom = started.launched.memory_cgroup is not None and started.launched.memory_cgroup.oom_killed()
        if result is None and not (seen.wall_timed_out or seen.overflowed):
            # The driver died without reporting; its init (the unshare fallback's) is about to write
            # why to the status: let it end by itself before the teardown kills it.
            if started.launched.init_pidfd is not None:
                select.select([started.launched.init_pidfd], [], [], 1.0)
            self._teardown(started)  # bwrap's status says of what
            result = _unreported_result(done, parse_status(bytes(started.status)))
        else:
            self.warm.retire(started)
            result = result or _unreported_result(done, {})
        if oom and result.sandbox_error is None:
            result.memory_exceeded, result.timed_out = True, False
        for path in collect:
            data = bytes(seen.streams[f"collect:{path}"].data)
            if data[:1] == b"1":
                result.files[path] = data[1:]
        return result

    def run_many(
        self,
        command: list[str],
        *,
        files: Mapping[str, bytes] | None = None,
        stdins: Sequence[bytes],
        limits: Limits = Limits(),
    ) -> list[RunResult]:
        """Run `command` once per stdin, up to BATCH_SIZE runs per sandbox.

        Each batched run still gets its own rlimits, wall limit, capped output pipes, a work dir
        restored to `files`, and a clean process table (everything of the previous run is killed).
        Runs the driver could not report (it was killed, or the sandbox failed) are redone one
        sandbox each with `run`, so a hostile program can only cost time, never a wrong result.
        """
        self.check()
        for path in files or {}:
            check_relative(path)
        results: list[RunResult | None] = []
        for i in range(0, len(stdins), BATCH_SIZE) if len(stdins) > 1 else ():
            job = _Job(list(command), dict(files or {}), list(stdins[i : i + BATCH_SIZE]), limits, ())
            done = self._execute(job)
            if isinstance(done, str):
                results += [None] * len(job.stdins)
                continue
            self.warm.retire(done.started)
            cgroup = done.started.launched.memory_cgroup
            if cgroup is not None and cgroup.oom_killed():
                # Some run hit the group's memory cap, but which one the counter cannot say: redo
                # them all one sandbox each, where it can.
                results += [None] * len(job.stdins)
            else:
                results += _batch_results(done, job)
        results += [None] * (len(stdins) - len(results))
        return [
            done if done is not None else self.run(command, files=files, stdin=stdin, limits=limits)
            for done, stdin in zip(results, stdins)
        ]

    def _execute(self, job: _Job) -> _Done | str:
        """Hand `job` to a ready sandbox (or a fresh one) and read what it produced; or an error."""
        size = job.limits.workdir_mb
        started = self.warm.take(size)
        while started is not None and not started.alive():  # killed while it waited
            self.warm.retire(started)
            started = self.warm.take(size)
        started = started or self._start(size, wait=True)
        if not isinstance(started, Started):
            return started or "no sandbox slot came free"
        done = self._hand_over(started, job)
        if done is None:
            self.warm.retire(started)
            return "the sandbox's driver did not take its job"
        return done

    def _hand_over(self, started: Started, job: _Job) -> _Done | None:
        """Send `job` to `started`'s driver and capture every run's output; None if it was not taken."""
        limits = job.limits
        with _Fds() as fds:
            control_r, control_w = fds.pipe()
            sent = [-1, control_w]  # [0] becomes the manifest
            runs = []
            pipes = {"control": (control_r, 1 << 16)}
            for i, stdin in enumerate(job.stdins):
                (out_r, out_w), (err_r, err_w) = fds.pipe(), fds.pipe()
                runs.append({"stdin": stdin, "stdout": len(sent), "stderr": len(sent) + 1})
                sent += [out_w, err_w]
                pipes[f"stdout:{i}"] = (out_r, limits.output_bytes)
                pipes[f"stderr:{i}"] = (err_r, limits.output_bytes)
            collect = {}
            for path in job.collect:
                r, w = fds.pipe()
                collect[path] = len(sent)
                sent.append(w)
                pipes[f"collect:{path}"] = (r, limits.file_size_mb * MIB + 1)
            manifest = {
                "workdir": WORKDIR,
                "command": job.command,
                "files": job.files,
                # The driver (and the unshare init) count against RLIMIT_NPROC of the run's uid in its namespace.
                "limits": rlimits(limits, self.launcher.own_processes),
                "wall_seconds": float(limits.wall_seconds),
                "runs": runs,
                "control": 1,
                "collect": collect,
            }
            sent[0] = fds.own(memfd(marshal.dumps(manifest, 4), "manifest"))
            cgroup = started.launched.memory_cgroup
            if cgroup is not None:
                # The tmpfs work dir is charged to the group too; the slack covers bwrap and page cache.
                cgroup.prepare((limits.memory_mb + limits.workdir_mb) * MIB + _CGROUP_SLACK_BYTES)
            start = time.monotonic()
            try:
                socket.send_fds(started.handoff, [b"J"], sent)
            except OSError:
                return None
            for fd in sent:
                fds.close(fd)
            output = frozenset(name for name in pipes if name.startswith(("stdout:", "stderr:")))
            single = len(job.stdins) == 1
            seen = capture(
                pipes,
                deadline=start + len(job.stdins) * (limits.wall_seconds + _WALL_SLACK),
                kill=lambda so_far: started.launched.kill(started.read_status()),
                kill_on_overflow=output if single else frozenset(),  # one run: the sandbox is the run
                drop_on_overflow=frozenset() if single else output,
            )
            for name in output:
                if seen.streams[name].dropped:
                    fds.forget(pipes[name][0])
            return _Done(started, seen, start)


@dataclass(frozen=True)
class _Job:
    """One sandbox's work: `command` once per stdin, in a work dir holding `files`, then `collect`."""

    command: list[str]
    files: dict[str, bytes]
    stdins: list[bytes]
    limits: Limits
    collect: tuple[str, ...]


@dataclass(frozen=True)
class _Done:
    """A job handed over: its sandbox, what was read from it, and when the job was sent."""

    started: Started
    seen: Capture
    sent_at: float


def _batch_results(done: _Done, job: _Job) -> list[RunResult | None]:
    """One result per run the driver reported (None for the rest), from its control lines and our pipes."""
    seen, count, limits = done.seen, len(job.stdins), job.limits
    reported: dict[int, list[str]] = {}
    for line in bytes(seen.streams["control"].data).decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 7 and fields[0].isdigit() and int(fields[0]) < count:
            reported[int(fields[0])] = fields
    results: list[RunResult | None] = []
    previous_end = done.sent_at
    for i in range(count):
        out, err = seen.streams[f"stdout:{i}"], seen.streams[f"stderr:{i}"]
        end = max(out.eof_at or time.monotonic(), err.eof_at or time.monotonic())
        host_wall, previous_end = end - previous_end, end
        if i not in reported or seen.wall_timed_out or seen.overflowed:
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
            timed_out=timed_out == "1" or host_wall > limits.wall_seconds + _WALL_SLACK,
        )
        if not (result.timed_out or result.output_exceeded):
            _classify(result, float(cpu), int(peak), limits)
        results.append(result)
    return results


def _unreported_result(done: _Done, status: dict[str, int]) -> RunResult:
    """The one run of a sandbox whose driver did not report it: we killed it, or it killed the driver."""
    seen = done.seen
    out, err = seen.streams["stdout:0"], seen.streams["stderr:0"]
    result = RunResult(
        exit_code=None,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        stdout_truncated=out.overflowed,
        stderr_truncated=err.overflowed,
        wall_seconds=time.monotonic() - done.sent_at,
        output_exceeded=seen.overflowed is not None,
        timed_out=seen.wall_timed_out,
    )
    code = status.get("exit-code")
    if seen.wall_timed_out or seen.overflowed:
        result.signal = signal.SIGKILL  # we killed it
    elif code is not None and signal_number(code) is not None:
        result.signal = signal_number(
            code
        )  # the driver died of it, as the program's doing (say `kill -9 -1`)
    else:
        result.sandbox_error = f"the sandbox's driver ended without reporting the run (exit {code})"
    return result


def _classify(result: RunResult, cpu: float, peak_rss: int, limits: Limits) -> None:
    """Set `timed_out` for CPU-limit deaths and `memory_exceeded` for likely out-of-memory deaths."""
    result.timed_out = hit_cpu_limit(result.signal, cpu, limits)
    if not result.timed_out and result.exit_code != 0:
        result.memory_exceeded = looks_out_of_memory(result, peak_rss, limits)


class _Fds:
    """The fds one job opened, closed together when it ends (each exactly once)."""

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
