"""The Docker engine as the backend uses it: SDK calls, raw exec connections, demultiplexed capped output."""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlvr.errors import RlvrError
from rlvr.sandbox.backend import SandboxUnavailable

INSPECT_INTERVAL_SECONDS = 0.2  # how often a run whose output stays open is checked for having exited
FRAME_HEADER = struct.Struct(">BxxxL")  # docker's multiplexed stream: stream id, 3 pad bytes, length


class ContainerGone(RlvrError, RuntimeError):
    """A warm container no longer exists or runs, so nothing was started in it."""


def docker_module() -> Any:
    """The Docker SDK for Python (`docker`), or SandboxUnavailable saying how to install it."""
    try:
        import docker
    except ImportError as e:
        raise SandboxUnavailable(
            "the docker backend needs the Docker SDK for Python: pip install docker "
            "(or, in the rlvr checkout, pip install -e '.[docker]')"
        ) from e
    return docker


@dataclass
class Stream:
    """Demultiplexed output of one exec, each stream capped; `end` says why reading stopped."""

    caps: dict[int, int]
    out: dict[int, bytearray] = field(default_factory=lambda: {1: bytearray(), 2: bytearray()})
    truncated: dict[int, bool] = field(default_factory=lambda: {1: False, 2: False})
    end: str = ""  # "eof" | "deadline" | "output" | "exited"


class Exec:
    """One started `docker exec`: its hijacked connection, stdin still to send, output read so far."""

    def __init__(
        self, exec_id: str, sock: socket.socket, pending: bytes, stdin: bytes, caps: dict[int, int]
    ) -> None:
        self.exec_id = exec_id
        self.sock = sock
        self.buf = bytearray(pending)  # bytes after the HTTP head: the start of the frame stream
        self.stdin = memoryview(stdin)
        self.stream = Stream(caps)
        sock.setblocking(False)
        if not stdin:
            self._close_stdin()

    def _close_stdin(self) -> None:
        self.stdin = memoryview(b"")
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def pump(self, deadline: float, exited: Callable[[], bool] | None = None) -> Stream:
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
        while len(self.buf) >= FRAME_HEADER.size:
            stream_id, size = FRAME_HEADER.unpack_from(self.buf)
            if len(self.buf) < FRAME_HEADER.size + size:
                return False
            chunk = bytes(self.buf[FRAME_HEADER.size : FRAME_HEADER.size + size])
            del self.buf[: FRAME_HEADER.size + size]
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


class Engine:
    """The Docker engine as this backend uses it: the SDK for control calls, plus a raw hijacked
    connection per exec so stdin can be streamed and half-closed and no output byte is lost."""

    def __init__(self) -> None:
        self.pid = os.getpid()  # connections are not shared with forked children
        docker = docker_module()
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

    def start_exec(
        self,
        container_id: str,
        argv: list[str],
        stdin: bytes,
        caps: dict[int, int],
        *,
        user: str,
        workdir: str,
        environment: dict[str, str],
    ) -> Exec:
        """Create and start an exec of `argv` as `user`; raises ContainerGone, SDK errors or OSError.

        The SDK's own `exec_start(socket=True)` is not used: its HTTP response reader may already
        have buffered the first output bytes past the headers, and they would be lost.
        """
        try:
            exec_id = self.api.exec_create(
                container_id, argv, stdin=True, user=user, workdir=workdir, environment=environment
            )["Id"]
        except self.errors.APIError as e:
            if e.status_code in (404, 409):  # no such container, or it is not running
                raise ContainerGone(f"container {container_id[:12]} is gone: {e}") from e
            raise
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        sock, rest = self.upgrade(f"/exec/{exec_id}/start", body)
        return Exec(exec_id, sock, rest, stdin, caps)

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
