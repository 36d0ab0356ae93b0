"""`DockerBackend`: runs each command as one `docker exec` in a pooled warm container, and reads its result."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from signal import SIGKILL

from rlvr.sandbox.backend import Backend, SandboxUnavailable
from rlvr.sandbox.docker.api import ContainerGone, Engine
from rlvr.sandbox.docker.archive import relative_path, tar
from rlvr.sandbox.docker.cleanup import settle
from rlvr.sandbox.docker.containers import Container, ContainerShape
from rlvr.sandbox.docker.pool import Pool
from rlvr.sandbox.docker.scripts import READY, RUN_SCRIPT
from rlvr.sandbox.exit_status import exit_or_signal, hit_cpu_limit
from rlvr.sandbox.limits import Limits, RunResult

IMAGE = "rlvr-sandbox:latest"
BUILD_HINT = "build the image with `sandbox/image/build.sh` (or run `.ci/docker-setup.sh` as root)"


class DockerBackend(Backend):
    """Runs each command by `docker exec` in a warm container of the locally built `rlvr-sandbox` image.

    Containers are started with no network, a read-only root, `--cap-drop ALL`, `no-new-privileges`,
    memory (no swap), pids and CPU limits, and a tmpfs work dir of `Limits.workdir_mb`; they are kept
    warm and reused (a `docker exec` costs a fraction of a `docker run`), one run at a time each. A run
    executes as the container's own non-root uid under per-run rlimits (CPU, processes, open files, file
    size). When it has ended, nothing of it may run on: if the container's cgroup (read from the host)
    shows any process left, or files are to be collected, or the exit status is above 128 (whether it
    was a signal is then read from the exit reporter), or the host cannot see the cgroup, a cleanup
    exec kills every process of that uid, reads the files back and wipes; otherwise the next run's
    script wipes the files before its command starts. A container whose cleanup fails is removed.
    Talks to the engine with the Docker SDK for Python (`pip install 'rlvr[docker]'`).
    """

    name = "docker"

    def __init__(self, image: str = IMAGE, *, max_containers: int | None = None, cpus: float = 1.0) -> None:
        """`max_containers` warm containers at most (default: twice the CPU count, so a compile shape and
        a run shape stay warm per core), each limited to `cpus` CPUs."""
        self.image = image
        self.max_containers = max_containers or 2 * (os.cpu_count() or 1)
        self.cpus = cpus
        self._engine: Engine | None = None
        self._pool: Pool | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize | None = None
        self._checked = False

    def check(self) -> None:
        """Raise SandboxUnavailable, saying how to fix it, unless the engine runs and the image exists.

        Once it passed, later calls return at once (a lost engine then shows as `sandbox_error`)."""
        if self._checked:
            return
        with self._lock:
            engine = self._get_engine()
        try:
            engine.api.inspect_image(self.image)
        except engine.errors.ImageNotFound as e:
            raise SandboxUnavailable(f"Docker image {self.image!r} not found: {BUILD_HINT}") from e
        self._checked = True

    def _get_engine(self) -> Engine:
        if self._engine is None or self._engine.pid != os.getpid():
            self._engine = Engine()
        return self._engine

    def _get_pool(self) -> Pool:
        with self._lock:
            if self._pool is None or self._pool.pid != os.getpid():
                self._pool = Pool(self._get_engine(), self.image, self.max_containers, self.cpus)
                self._finalizer = weakref.finalize(self, self._pool.close)
            return self._pool

    def close(self) -> None:
        """Remove this process's warm containers (also done at exit)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._pool = None

    def run(
        self,
        command: list[str],
        *,
        files: Mapping[str, bytes] | None = None,
        stdin: bytes = b"",
        limits: Limits = Limits(),
        collect: Sequence[str] = (),
    ) -> RunResult:
        """Run `command` in a warm container; see `Backend.run`. Wall time counts from the exec start.

        Raises ValueError for a `files` or `collect` name that is not a relative path in the work
        dir. Docker reports a death by signal n as the status 128+n; the exit reporter (see
        `rlvr.sandbox.exit_status`) tells it apart from a program's exit(128+n).
        """
        payload = tar(files) if files else b""
        collect = [relative_path(name) for name in collect]
        try:
            pool = self._get_pool()

            def attempt() -> RunResult:
                with pool.checkout(ContainerShape.of(limits)) as container:
                    return self._run_in(pool.engine, container, command, payload, stdin, limits, collect)

            # Warm containers removed behind our back (engine restart, `docker rm`) are dropped one by
            # one; at worst every idle one is gone and the last attempt starts a fresh container.
            for _ in range(pool.max_containers):
                with contextlib.suppress(ContainerGone):
                    return attempt()
            return attempt()
        except SandboxUnavailable as e:
            return RunResult(exit_code=None, sandbox_error=str(e))
        except Exception as e:  # the engine or the container failed, not the program
            hint = f": {BUILD_HINT}" if "No such image" in str(e) else ""
            return RunResult(exit_code=None, sandbox_error=f"docker: {type(e).__name__}: {e}{hint}")

    def _run_in(
        self,
        engine: Engine,
        container: Container,
        command: list[str],
        payload: bytes,
        stdin: bytes,
        limits: Limits,
        collect: Sequence[str],
    ) -> RunResult:
        cpu_soft = max(1, math.ceil(limits.cpu_seconds))
        argv = ["/bin/sh", "-c", RUN_SCRIPT, "run", str(len(payload)), f"{cpu_soft}:{cpu_soft + 1}"]
        argv += [str(limits.processes), str(limits.open_files), str(limits.file_size_mb << 20), *command]
        caps = {1: limits.output_bytes + len(READY), 2: limits.output_bytes + len(READY)}
        started = time.monotonic()
        running = container.start_exec(engine, argv, payload + stdin, caps)

        def exited() -> bool:
            return not engine.api.exec_inspect(running.exec_id)["Running"]

        try:
            stream = running.pump(started + limits.wall_seconds, exited)
            end, wall = stream.end, time.monotonic() - started
        finally:
            # Hanging up also when output is still coming: dockerd handles the container's exec exits
            # one by one, and an exec whose output nobody reads would hold up the cleanup's.
            running.close()
        info = engine.finished(running.exec_id) if end == "eof" else None
        after = settle(engine, container, None if info is None else info["ExitCode"], collect)
        stdout, stderr = bytes(stream.out[1]), bytes(stream.out[2])
        if not (stdout.startswith(READY) or stderr.startswith(READY)):
            container.broken = True
            reason = stderr[-500:].decode(errors="replace")
            return RunResult(exit_code=None, sandbox_error=f"sandbox setup failed ({end}): {reason}")
        if end in ("deadline", "output"):
            exit_code, signal = None, int(SIGKILL)  # we killed it
        elif info is not None or (info := engine.finished(running.exec_id)) is not None:
            exit_code, signal = exit_or_signal(info["ExitCode"], after.exit_report)
        else:
            container.broken = True
            return RunResult(exit_code=None, sandbox_error="docker exec still runs after its cleanup")
        return RunResult(
            exit_code=exit_code,
            signal=signal,
            stdout=stdout.removeprefix(READY),
            stderr=stderr.removeprefix(READY),
            stdout_truncated=stream.truncated[1],
            stderr_truncated=stream.truncated[2],
            wall_seconds=wall,
            cpu_seconds=after.cpu_seconds,
            timed_out=end == "deadline" or hit_cpu_limit(signal, after.cpu_seconds, limits),
            memory_exceeded=after.oom_kills > 0,
            output_exceeded=end == "output",
            files=after.files,
        )
