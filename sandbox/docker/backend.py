"""Docker sandbox backend: each run is a `docker exec` in a warm, locked-down, reused container."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import select
import socket
import struct
import tarfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from signal import NSIG, SIGKILL, SIGXCPU
from typing import Any

from rlvr.sandbox.backend import Backend, SandboxUnavailable
from rlvr.sandbox.limits import Limits, RunResult

IMAGE = "rlvr-sandbox:latest"
BUILD_HINT = "build the image with `sandbox/image/build.sh` (or run `.ci/docker-setup.sh` as root)"
OWNER_LABEL = "org.rlvr.sandbox.owner"  # "<hostname>:<pid>" of the process whose pool made the container

WORKDIR = "/work"
ENVIRONMENT = {  # the whole environment of a run: nothing is inherited from the host
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "TMPDIR": WORKDIR,
    "LANG": "C.UTF-8",
}
INIT_USER = "65534:65534"  # the container's idle init runs as `nobody`, never as a run's uid
IDLE_PROCESSES = 2  # docker-init and its shell waiting on the lifeline: all a container runs between runs
# Each container runs its runs as its own uid from this range, which no host account uses: per-uid
# kernel counters (RLIMIT_NPROC, inotify instances, mqueue bytes) of one container never touch another's.
RUN_UID_RANGE = (1_000_000, 2_000_000_000)
# Room the container keeps beyond `Limits.processes` for docker-init, its shell and the cleanup exec,
# so a fork bomb that filled its own quota cannot stop the cleanup from starting.
PROCESS_HEADROOM = 8
SHM_MB = 8  # /dev/shm is writable (and wiped like the work dir); kept small
SHM_INODES = 1024
INODES_PER_MB = 256  # of the work dir: 16384 files in the default 64 MiB
INSPECT_INTERVAL_SECONDS = 0.2  # how often a run whose output stays open is checked for having exited
CLEANUP_TIMEOUT_SECONDS = 10.0
READY = b"rlvr-sandbox-ready\n"  # the run script's last words before it becomes the command
_FRAME_HEADER = struct.Struct(">BxxxL")  # docker's multiplexed stream: stream id, 3 pad bytes, length
_DONE = b"rlvr-cleanup-done"

# Shell functions of both scripts below. `wipe` empties every place a run can write (the work dir,
# /dev/shm, POSIX message queues, SysV IPC) with shell builtins plus one `rm` when there is something.
_WIPE = """\
nonempty() {
  for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    if [ -e "$f" ] || [ -L "$f" ]; then return 0; fi
  done
  return 1
}
wipe() {
  for d in /work /dev/shm /dev/mqueue; do
    if nonempty "$d"; then
      chmod -R u+rwx "$d" 2>/dev/null
      rm -rf "$d"/* "$d"/.[!.]* "$d"/..?* 2>/dev/null
      if nonempty "$d"; then echo "cannot wipe $d" >&2; return 1; fi
    fi
  done
  for t in shm msg sem; do
    if { read -r _ && read -r _; } < "/proc/sysvipc/$t"; then ipcrm --all 2>/dev/null; break; fi
  done
  return 0
}
"""
# Runs as the run's uid with the exec's stdin = [tar of `files`][stdin]: wipes what an earlier run left
# (only files: the host saw no process of it left), unpacks the files, says READY on stdout and on
# stderr, then becomes the command under the per-run rlimits (prlimit execs it, so its exit status is
# docker's). The command cannot fake READY: on each stream its output follows the marker. Both
# streams carry it because docker does not keep their relative order: when a run is cut short,
# whichever stream arrived starts with it.
_RUN_SCRIPT = (
    _WIPE
    + """\
umask 022
wipe || exit 125
if [ "$1" -gt 0 ]; then head -c "$1" | tar -x -f - || exit 125; fi
cpu=$2 nproc=$3 nofile=$4 fsize=$5
shift 5
printf '%s\\n' READY_MARKER
printf '%s\\n' READY_MARKER >&2
exec prlimit --cpu="$cpu" --nproc="$nproc" --nofile="$nofile" --fsize="$fsize" --core=0 -- "$@"
""".replace("READY_MARKER", READY.decode().strip())
)
# Also the run's uid, when a run left processes or files are to be collected. Kills all it left
# (`kill -1` reaches every process of the uid but the caller) until the container's pids cgroup holds
# only the idle init and this shell, writes the files to collect as a tar on stdout, wipes, and reports
# the container's cgroup counters on stderr. Without the final marker the container is discarded.
_CLEANUP_SCRIPT = (
    _WIPE
    + """\
if [ -r /sys/fs/cgroup/pids.current ]; then v2=1; pids=/sys/fs/cgroup/pids.current
else v2=; pids=/sys/fs/cgroup/pids/pids.current; fi
i=0
while :; do
  kill -KILL -1 2>/dev/null
  read -r n < "$pids" || exit 3
  if [ "$n" -le 3 ]; then break; fi  # docker-init, its shell, and this shell
  i=$((i + 1))
  if [ "$i" -ge 300 ]; then echo "$n processes survive SIGKILL" >&2; exit 3; fi
  sleep 0.01
done
cd /work || exit 4
if [ "$#" -gt 0 ]; then
  for f in "$@"; do if [ -f "$f" ] && [ ! -L "$f" ]; then printf '%s\\0' "$f"; fi; done \\
    | tar --null --no-recursion -T - -c -f - || exit 5
fi
wipe || exit 6
cpu_ns=-1 oom=-1 events=/sys/fs/cgroup/memory/memory.oom_control
if [ -n "$v2" ]; then
  events=/sys/fs/cgroup/memory.events
  while read -r k v; do if [ "$k" = usage_usec ]; then cpu_ns=${v}000; fi; done < /sys/fs/cgroup/cpu.stat
else
  read -r cpu_ns < /sys/fs/cgroup/cpuacct/cpuacct.usage
fi
while read -r k v; do if [ "$k" = oom_kill ]; then oom=$v; fi; done < "$events"
echo "cpu_ns=$cpu_ns oom_kills=$oom" >&2
echo DONE_MARKER >&2
""".replace("DONE_MARKER", _DONE.decode())
)


_lifelines: weakref.WeakSet[socket.socket] = weakref.WeakSet()


def _drop_inherited_lifelines() -> None:
    """In a forked child: close its copies of the parent's lifelines, so that the parent's death
    still ends the parent's containers while the child lives on."""
    for sock in list(_lifelines):
        with contextlib.suppress(OSError):
            sock.close()
    _lifelines.clear()


os.register_at_fork(after_in_child=_drop_inherited_lifelines)


class _ContainerGone(RuntimeError):
    """A warm container no longer exists or runs, so nothing was started in it."""


def _docker_module() -> Any:
    try:
        import docker
    except ImportError as e:
        raise SandboxUnavailable(
            "the docker backend needs the Docker SDK for Python: pip install docker "
            "(or, in the rlvr checkout, pip install -e '.[docker]')"
        ) from e
    return docker


@dataclass(frozen=True)
class _ContainerShape:
    """The limits fixed when a container starts; runs with equal shapes share warm containers."""

    memory_mb: int
    processes: int
    workdir_mb: int
    open_files: int
    file_size_mb: int

    @classmethod
    def of(cls, limits: Limits) -> _ContainerShape:
        return cls(
            limits.memory_mb, limits.processes, limits.workdir_mb, limits.open_files, limits.file_size_mb
        )


@dataclass(frozen=True)
class _Counters:
    processes: int  # tasks in the container now
    cpu_ns: int  # CPU the container used since it started
    oom_kills: int  # OOM kills in the container since it started


@dataclass(frozen=True)
class _HostCgroup:
    """The container's cgroup files, read directly when this process shares the engine's host."""

    pids: Path
    cpu: Path
    memory: Path
    v2: bool

    @classmethod
    def find(cls, container_id: str, init_pid: int) -> _HostCgroup | None:
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

    def read(self) -> _Counters:
        """The counters now; raises OSError when the container is gone."""
        memory = dict(line.split() for line in self.memory.read_text().splitlines() if " " in line)
        if self.v2:
            cpu = dict(line.split() for line in self.cpu.read_text().splitlines())
            cpu_ns = int(cpu["usage_usec"]) * 1000
        else:
            cpu_ns = int(self.cpu.read_text())
        return _Counters(int(self.pids.read_text()), cpu_ns, int(memory.get("oom_kill", 0)))


@dataclass
class _Container:
    id: str
    uid: int
    shape: _ContainerShape
    cgroup: _HostCgroup | None = None
    # Our end of the container's stdin. The container's init waits for its EOF, which the kernel
    # delivers when this process dies by any means (even SIGKILL), and the container is then removed.
    lifeline: socket.socket | None = None
    cpu_ns: int = 0  # the cgroup counters at the end of the last run
    oom_kills: int = 0
    broken: bool = False  # must not be reused: removed when checked back in

    def usage_since_last(self, cpu_ns: int, oom_kills: int) -> tuple[float, int]:
        """CPU seconds and OOM kills since the last call, from the container's running totals
        (a negative total means unknown: it counts as 0 and keeps the previous total)."""
        cpu = (cpu_ns - self.cpu_ns) / 1e9 if cpu_ns >= 0 else 0.0
        kills = oom_kills - self.oom_kills if oom_kills >= 0 else 0
        self.cpu_ns, self.oom_kills = max(cpu_ns, self.cpu_ns), max(oom_kills, self.oom_kills)
        return max(cpu, 0.0), max(kills, 0)


@dataclass
class _Stream:
    """Demultiplexed output of one exec, each stream capped; `end` says why reading stopped."""

    caps: dict[int, int]
    out: dict[int, bytearray] = field(default_factory=lambda: {1: bytearray(), 2: bytearray()})
    truncated: dict[int, bool] = field(default_factory=lambda: {1: False, 2: False})
    end: str = ""  # "eof" | "deadline" | "output" | "exited"


class _Exec:
    """One started `docker exec`: its hijacked connection, stdin still to send, output read so far."""

    def __init__(
        self, exec_id: str, sock: socket.socket, pending: bytes, stdin: bytes, caps: dict[int, int]
    ) -> None:
        self.exec_id = exec_id
        self.sock = sock
        self.buf = bytearray(pending)  # bytes after the HTTP head: the start of the frame stream
        self.stdin = memoryview(stdin)
        self.stream = _Stream(caps)
        sock.setblocking(False)
        if not stdin:
            self._close_stdin()

    def _close_stdin(self) -> None:
        self.stdin = memoryview(b"")
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def pump(self, deadline: float, exited: Callable[[], bool] | None = None) -> _Stream:
        """Send stdin and read output until EOF, `deadline` (monotonic s), a stream passing its cap,
        or `exited()` turning true (checked every INSPECT_INTERVAL_SECONDS)."""
        next_check = time.monotonic() + INSPECT_INTERVAL_SECONDS if exited is not None else math.inf
        while True:
            now = time.monotonic()
            if now >= deadline:
                self.stream.end = "deadline"
                return self.stream
            if exited is not None and now >= next_check:
                if exited():
                    self.stream.end = "exited"
                    return self.stream
                next_check = now + INSPECT_INTERVAL_SECONDS
            wait = max(min(deadline, next_check) - now, 0.0)
            readable, writable, _ = select.select([self.sock], [self.sock] if self.stdin else [], [], wait)
            if writable:
                self._send()
            if readable:
                try:
                    data = self.sock.recv(1 << 16)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    self.stream.end = "eof"
                    return self.stream
                self.buf += data
                if self._take_frames():
                    self.stream.end = "output"
                    return self.stream

    def _send(self) -> None:
        try:
            sent = self.sock.send(self.stdin[: 1 << 16])
        except BlockingIOError:
            return
        except OSError:  # the program exited without reading all its stdin
            self.stdin = memoryview(b"")
            return
        self.stdin = self.stdin[sent:]
        if not self.stdin:
            self._close_stdin()

    def _take_frames(self) -> bool:
        """Move whole frames from the buffer to the capped streams; True once a stream passed its cap."""
        while len(self.buf) >= _FRAME_HEADER.size:
            stream_id, size = _FRAME_HEADER.unpack_from(self.buf)
            if len(self.buf) < _FRAME_HEADER.size + size:
                return False
            chunk = bytes(self.buf[_FRAME_HEADER.size : _FRAME_HEADER.size + size])
            del self.buf[: _FRAME_HEADER.size + size]
            out = self.stream.out.get(stream_id)
            if out is None:  # stdin echo (stream 0) never happens without a tty; ignore it
                continue
            room = self.stream.caps[stream_id] - len(out)
            out += chunk[: max(room, 0)]
            if len(chunk) > room:
                self.stream.truncated[stream_id] = True
                return True
        return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Engine:
    """The Docker engine as this backend uses it: the SDK for control calls, plus a raw hijacked
    connection per exec so stdin can be streamed and half-closed and no output byte is lost."""

    def __init__(self) -> None:
        self.pid = os.getpid()  # connections are not shared with forked children
        docker = _docker_module()
        try:
            self.client = docker.from_env()
            self.api = self.client.api
            self.api.ping()
        except Exception as e:
            raise SandboxUnavailable(
                f"cannot reach the Docker engine ({e}); start it (`dockerd &`, or `.ci/docker-setup.sh` as "
                "root) and check DOCKER_HOST and your access to the docker socket"
            ) from e
        self.errors = docker.errors
        self.types = docker.types
        host = docker.utils.parse_host(os.environ.get("DOCKER_HOST"), False, tls=False)
        if not host.startswith(("http+unix://", "http://")):
            raise SandboxUnavailable(
                f"the docker backend streams exec I/O over a unix socket or plain tcp, not {host!r}; "
                "point DOCKER_HOST at unix:///var/run/docker.sock or tcp://HOST:2375"
            )
        self.host = host

    def _connect(self) -> socket.socket:
        if self.host.startswith("http+unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.host[len("http+unix://") :])
            return sock
        hostname, _, port = self.host[len("http://") :].rstrip("/").rpartition(":")
        return socket.create_connection((hostname, int(port)))

    def start_exec(self, container: _Container, argv: list[str], stdin: bytes, caps: dict[int, int]) -> _Exec:
        """Create and start an exec of `argv` as the container's run uid; raises SDK errors or OSError.

        The SDK's own `exec_start(socket=True)` is not used: its HTTP response reader may already
        have buffered the first output bytes past the headers, and they would be lost.
        """
        try:
            exec_id = self.api.exec_create(
                container.id,
                argv,
                stdin=True,
                user=f"{container.uid}:{container.uid}",
                workdir=WORKDIR,
                environment=ENVIRONMENT,
            )["Id"]
        except self.errors.APIError as e:
            if e.status_code in (404, 409):  # no such container, or it is not running
                raise _ContainerGone(f"container {container.id[:12]} is gone: {e}") from e
            raise
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        sock, rest = self.upgrade(f"/exec/{exec_id}/start", body)
        return _Exec(exec_id, sock, rest, stdin, caps)

    def upgrade(self, path: str, body: bytes = b"") -> tuple[socket.socket, bytes]:
        """POST `path` asking for a raw bidirectional stream (exec start, attach); the connected
        socket and the stream bytes that came with the response head. Raises OSError."""
        head = (
            f"POST /v{self.api.api_version}{path} HTTP/1.1\r\nHost: docker\r\n"
            f"Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock = self._connect()
        try:
            sock.sendall(head + body)
            response = bytearray()
            while b"\r\n\r\n" not in response:
                data = sock.recv(4096)
                if not data or len(response) > 1 << 16:
                    raise OSError(f"docker closed the connection of {path}: {bytes(response[:200])!r}")
                response += data
            status_head, _, rest = bytes(response).partition(b"\r\n\r\n")
            status = status_head.split(b"\r\n", 1)[0]
            if not (status.startswith(b"HTTP/1.1 101") or status.startswith(b"HTTP/1.1 200")):
                raise OSError(f"docker refused {path}: {status.decode(errors='replace')} {rest[:200]!r}")
        except BaseException:
            sock.close()
            raise
        return sock, rest

    def finished(self, exec_id: str, wait_seconds: float = 2.0) -> dict[str, Any] | None:
        """The exec's final inspect, or None if it still runs after `wait_seconds`."""
        deadline = time.monotonic() + wait_seconds
        while True:
            info = self.api.exec_inspect(exec_id)
            if not info["Running"]:
                return info
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)


@dataclass
class _Cleanup:
    ok: bool
    files: dict[str, bytes] = field(default_factory=dict)
    cpu_ns: int = -1  # the container's counters after the cleanup (-1: unknown)
    oom_kills: int = -1
    error: str = ""


def _cleanup(engine: _Engine, container: _Container, collect: Sequence[str]) -> _Cleanup:
    """Kill everything of the run's uid, read back `collect`, wipe, and read the cgroup counters.

    `ok` is False (with `error`) when the container can no longer be trusted and must be discarded.
    """
    file_cap = container.shape.file_size_mb << 20
    # A tar of regular files, each within RLIMIT_FSIZE, with a header block per file and the trailer.
    caps = {1: len(collect) * (file_cap + 1024) + 20480, 2: 1 << 16}
    started = engine.start_exec(container, ["/bin/sh", "-c", _CLEANUP_SCRIPT, "cleanup", *collect], b"", caps)
    try:
        stream = started.pump(time.monotonic() + CLEANUP_TIMEOUT_SECONDS)
    finally:
        started.close()
    lines = bytes(stream.out[2]).decode(errors="replace").rstrip().splitlines()
    if stream.end != "eof" or not lines or lines[-1] != _DONE.decode() or len(lines) < 2:
        return _Cleanup(False, error=f"cleanup failed ({stream.end}): {lines[-3:]}")
    counters = dict(item.split("=", 1) for item in lines[-2].split() if "=" in item)
    files = _untar(bytes(stream.out[1]), file_cap) if collect else {}
    return _Cleanup(True, files, int(counters.get("cpu_ns", -1)), int(counters.get("oom_kills", -1)))


def _untar(data: bytes, file_cap: int) -> dict[str, bytes]:
    """Regular files of a tar stream, each at most `file_cap` bytes."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive:
            if member.isfile() and member.size <= file_cap:
                extracted = archive.extractfile(member)
                if extracted is not None:
                    files[member.name] = extracted.read()
    return files


def _tar(files: Mapping[str, bytes]) -> bytes:
    """A tar of `files` (relative paths, mode 0755) as the run script unpacks it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(_relative_path(name))
            info.size, info.mode, info.mtime = len(content), 0o755, int(time.time())
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _relative_path(name: str) -> str:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or str(path) in (".", ""):
        raise ValueError(
            f"sandbox file name {name!r} must be a relative path inside the work dir, without '..'"
        )
    return str(path)


class _Pool:
    """Warm containers by shape; a checked-out container runs one run at a time."""

    def __init__(self, engine: _Engine, image: str, max_containers: int, cpus: float) -> None:
        self.engine = engine
        self.image = image
        self.max_containers = max_containers
        self.cpus = cpus
        self.idle: list[_Container] = []
        self.busy = 0
        self.lock = threading.Condition()
        self.names = 0
        self.pid = os.getpid()
        self.owner = f"{socket.gethostname()}:{self.pid}"

    @contextlib.contextmanager
    def checkout(self, shape: _ContainerShape) -> Iterator[_Container]:
        """A warm container of `shape`, started if needed; it is removed afterwards if marked broken."""
        container = self._take(shape)
        try:
            if container is None:
                container = self._create(shape)
            yield container
        except BaseException:
            if container is not None:
                container.broken = True
            raise
        finally:
            with self.lock:
                self.busy -= 1
                if container is not None and not container.broken:
                    self.idle.append(container)
                self.lock.notify()
            if container is not None and container.broken:
                self._remove(container)

    def _take(self, shape: _ContainerShape) -> _Container | None:
        """An idle container of `shape`, or None when the caller may create one (after making room)."""
        with self.lock:
            while True:
                for i, container in enumerate(self.idle):
                    if container.shape == shape:
                        self.busy += 1
                        return self.idle.pop(i)
                if self.busy + len(self.idle) < self.max_containers:
                    self.busy += 1
                    return None
                if self.idle:  # full of other shapes: evict the least recently used one
                    evicted = self.idle.pop(0)
                    self.busy += 1
                    break
                self.lock.wait()
        self._remove(evicted)
        return None

    def _create(self, shape: _ContainerShape) -> _Container:
        uid = random.randrange(*RUN_UID_RANGE)
        mib = 1 << 20
        # Inodes are capped too: empty files cost no bytes of `size`, but kernel memory all the same.
        inodes = shape.workdir_mb * INODES_PER_MB
        types = self.engine.types
        host_config = self.engine.api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={
                WORKDIR: f"exec,nosuid,nodev,size={shape.workdir_mb}m,nr_inodes={inodes},uid={uid},gid={uid}",
                "/dev/shm": f"rw,noexec,nosuid,nodev,size={SHM_MB}m,nr_inodes={SHM_INODES}",
            },
            mem_limit=shape.memory_mb * mib,
            memswap_limit=shape.memory_mb * mib,
            pids_limit=shape.processes + PROCESS_HEADROOM,
            nano_cpus=int(self.cpus * 1e9),
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
        with self.lock:
            self.names += 1
            name = f"rlvr-sandbox-{self.pid}-{self.names}-{uid}"
        created = self.engine.api.create_container(
            self.image,
            command=["/bin/sh", "-c", "read -r _"],  # until the lifeline closes
            stdin_open=True,  # with the SDK's default detach=False this sets StdinOnce too
            user=INIT_USER,
            working_dir=WORKDIR,
            environment=ENVIRONMENT,
            hostname="sandbox",
            network_disabled=True,
            labels={OWNER_LABEL: self.owner},
            host_config=host_config,
            name=name,
        )
        container = _Container(created["Id"], uid, shape)
        try:
            container.lifeline, _ = self.engine.upgrade(f"/containers/{container.id}/attach?stream=1&stdin=1")
            _lifelines.add(container.lifeline)
            self.engine.api.start(container.id)
            init_pid = self.engine.api.inspect_container(container.id)["State"]["Pid"]
            container.cgroup = _HostCgroup.find(container.id, init_pid)
            first = _cleanup(self.engine, container, ())  # proves the container works; baseline counters
            if not first.ok:
                raise RuntimeError(f"new sandbox container {name} does not work: {first.error}")
            container.usage_since_last(first.cpu_ns, first.oom_kills)
        except BaseException:
            self._remove(container)
            raise
        return container

    def _remove(self, container: _Container) -> None:
        with contextlib.suppress(Exception):
            self.engine.api.remove_container(container.id, force=True)
        if container.lifeline is not None:
            container.lifeline.close()

    def close(self) -> None:
        if os.getpid() != self.pid:  # a forked child must not remove its parent's containers
            return
        with self.lock:
            idle, self.idle = self.idle, []
        for container in idle:
            self._remove(container)


class DockerBackend(Backend):
    """Runs each command by `docker exec` in a warm container of the locally built `rlvr-sandbox` image.

    Containers are started with no network, a read-only root, `--cap-drop ALL`, `no-new-privileges`,
    memory (no swap), pids and CPU limits, and a tmpfs work dir of `Limits.workdir_mb`; they are kept
    warm and reused (a `docker exec` costs a fraction of a `docker run`), one run at a time each. A run
    executes as the container's own non-root uid under per-run rlimits (CPU, processes, open files, file
    size). When it has ended, nothing of it may run on: if the container's cgroup (read from the host)
    shows any process left, or files are to be collected, or the host cannot see the cgroup, a cleanup
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
        self._engine: _Engine | None = None
        self._pool: _Pool | None = None
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

    def _get_engine(self) -> _Engine:
        if self._engine is None or self._engine.pid != os.getpid():
            self._engine = _Engine()
        return self._engine

    def _get_pool(self) -> _Pool:
        with self._lock:
            if self._pool is None or self._pool.pid != os.getpid():
                self._pool = _Pool(self._get_engine(), self.image, self.max_containers, self.cpus)
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
        dir. A signal death is reported by Docker as exit status 128+n and mapped to `signal=n`.
        """
        payload = _tar(files) if files else b""
        collect = [_relative_path(name) for name in collect]
        try:
            pool = self._get_pool()

            def attempt() -> RunResult:
                with pool.checkout(_ContainerShape.of(limits)) as container:
                    return self._run_in(pool.engine, container, command, payload, stdin, limits, collect)

            # Warm containers removed behind our back (engine restart, `docker rm`) are dropped one by
            # one; at worst every idle one is gone and the last attempt starts a fresh container.
            for _ in range(pool.max_containers):
                with contextlib.suppress(_ContainerGone):
                    return attempt()
            return attempt()
        except SandboxUnavailable as e:
            return RunResult(exit_code=None, sandbox_error=str(e))
        except Exception as e:  # the engine or the container failed, not the program
            hint = f": {BUILD_HINT}" if "No such image" in str(e) else ""
            return RunResult(exit_code=None, sandbox_error=f"docker: {type(e).__name__}: {e}{hint}")

    def _run_in(
        self,
        engine: _Engine,
        container: _Container,
        command: list[str],
        payload: bytes,
        stdin: bytes,
        limits: Limits,
        collect: Sequence[str],
    ) -> RunResult:
        cpu_soft = max(1, math.ceil(limits.cpu_seconds))
        argv = ["/bin/sh", "-c", _RUN_SCRIPT, "run", str(len(payload)), f"{cpu_soft}:{cpu_soft + 1}"]
        argv += [str(limits.processes), str(limits.open_files), str(limits.file_size_mb << 20), *command]
        caps = {1: limits.output_bytes + len(READY), 2: limits.output_bytes + len(READY)}
        started = time.monotonic()
        running = engine.start_exec(container, argv, payload + stdin, caps)

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
        cpu_seconds, oom_kills, files = self._settle(engine, container, info, collect)
        stdout, stderr = bytes(stream.out[1]), bytes(stream.out[2])
        if not (stdout.startswith(READY) or stderr.startswith(READY)):
            container.broken = True
            reason = stderr[-500:].decode(errors="replace")
            return RunResult(exit_code=None, sandbox_error=f"sandbox setup failed ({end}): {reason}")
        if end in ("deadline", "output"):
            code: int | None = 128 + SIGKILL  # we killed it
        elif info is not None or (info := engine.finished(running.exec_id)) is not None:
            code = info["ExitCode"]
        else:
            container.broken = True
            return RunResult(exit_code=None, sandbox_error="docker exec still runs after its cleanup")
        signal = code - 128 if code is not None and 0 < code - 128 < NSIG else None
        return RunResult(
            exit_code=None if signal is not None else code,
            signal=signal,
            stdout=stdout.removeprefix(READY),
            stderr=stderr.removeprefix(READY),
            stdout_truncated=stream.truncated[1],
            stderr_truncated=stream.truncated[2],
            wall_seconds=wall,
            cpu_seconds=cpu_seconds,
            # SIGXCPU is RLIMIT_CPU's soft limit (per process); the cgroup counts the whole tree.
            timed_out=end == "deadline" or signal == SIGXCPU or cpu_seconds > limits.cpu_seconds,
            memory_exceeded=oom_kills > 0,
            output_exceeded=end == "output",
            files=files,
        )

    @staticmethod
    def _settle(
        engine: _Engine, container: _Container, info: dict[str, Any] | None, collect: Sequence[str]
    ) -> tuple[float, int, dict[str, bytes]]:
        """Make sure nothing of the run runs on; its CPU seconds, OOM kills and collected files.

        `info` is the run exec's final inspect when it ended by itself. Marks the container broken
        when that cannot be ensured (it is then removed, which kills what is left).
        """
        if info is not None and not collect and container.cgroup is not None:
            try:
                now = container.cgroup.read()
            except OSError:
                container.broken = True
                return 0.0, 0, {}
            if now.processes <= IDLE_PROCESSES:
                return (*container.usage_since_last(now.cpu_ns, now.oom_kills), {})
        after = _cleanup(engine, container, collect)  # kills the run first when it is still going
        if not after.ok:
            container.broken = True
            return 0.0, 0, {}
        return (*container.usage_since_last(after.cpu_ns, after.oom_kills), after.files)
