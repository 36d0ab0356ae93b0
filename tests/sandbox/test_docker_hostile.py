"""Hostile programs in the docker backend: each gets the right result, and neither the warm container
it ran in nor the host keeps anything of it."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator

import pytest

from rlvr.sandbox.docker.backend import DockerBackend

from .test_docker_backend import available, leftovers, py

pytestmark = pytest.mark.docker

CTYPES = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[DockerBackend]:
    chosen = available(DockerBackend(max_containers=2))
    yield chosen
    chosen.close()


@pytest.fixture(autouse=True)
def contained(sandbox: DockerBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Around every test: a host file stays intact, and no process of the run is left in its container."""
    canary = tmp_path_factory.mktemp("host") / "canary"
    canary.write_text("intact")
    yield
    assert leftovers(sandbox) == [], "a process outlived its run"
    assert canary.read_text() == "intact"


def hostile(sandbox: DockerBackend, code: str, **limits: float):
    return py(sandbox, CTYPES + textwrap.dedent(code), **{"wall_seconds": 2.0, "cpu_seconds": 1.0, **limits})


BOMBS = {  # name: (program, the RunResult flag it must raise)
    "fork_bomb": ("while True:\n    try: os.fork()\n    except OSError: pass", "timed_out"),
    "thread_bomb": (
        "import threading, time\nwhile True:\n"
        "    try: threading.Thread(target=time.sleep, args=(60,)).start()\n    except RuntimeError: pass",
        "timed_out",
    ),
    "memory_bomb": ("chunks = []\nwhile True: chunks.append(bytearray(16 << 20))", "memory_exceeded"),
    "cpu_bomb": ("while True: pass", "timed_out"),
    "fork_then_spin": ("for _ in range(3): os.fork()\nwhile True: pass", "timed_out"),
    "sleep_past_wall": ("import time; time.sleep(3600)", "timed_out"),
    "stdout_flood": ("import sys\nwhile True: sys.stdout.write('A' * 65536)", "output_exceeded"),
    "stderr_flood": ("import sys\nwhile True: sys.stderr.write('E' * 65536)", "output_exceeded"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_resource_bombs_end_as_the_right_failure_not_a_sandbox_error(
    sandbox: DockerBackend, name: str
) -> None:
    code, flag = BOMBS[name]
    result = hostile(sandbox, code)
    assert not result.ok and result.sandbox_error is None
    assert getattr(result, flag), result


def test_filling_the_disk_and_inodes_fails_inside_the_run(sandbox: DockerBackend) -> None:
    code = """
    import errno
    def fill(make):
        try:
            i = 0
            while True:
                make(i)
                i += 1
        except OSError as e:
            return errno.errorcode[e.errno]
    def big(i):
        with open(f"big{i}", "wb") as f:
            f.write(b"x" * (1 << 20))
    print(fill(big), fill(lambda i: open(f"/dev/shm/f{i}", "w").close()))
    """
    result = hostile(sandbox, code, workdir_mb=4)
    assert result.ok and result.stdout.split() == [b"ENOSPC", b"ENOSPC"], result


def test_egress_fails_for_tcp_udp_and_dns_and_host_loopback_is_unreachable(sandbox: DockerBackend) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        code = f"""
        import socket
        def attempt(action):
            try:
                action()
                return "reached"
            except OSError as e:
                return type(e).__name__
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        print(attempt(lambda: socket.create_connection(("93.184.216.34", 80), timeout=2)),
              attempt(lambda: udp.sendto(b"x", ("8.8.8.8", 53))),
              attempt(lambda: socket.getaddrinfo("example.com", 80)),
              attempt(lambda: socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=2)))
        """
        result = hostile(sandbox, code)
    assert result.stdout.split() == [b"OSError", b"OSError", b"gaierror", b"ConnectionRefusedError"], result


def test_proc_shows_only_the_container_and_no_host_process(sandbox: DockerBackend) -> None:
    code = """
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    names = sorted(open(f"/proc/{p}/comm").read().strip() for p in pids if p != os.getpid())
    print(len(pids), names, open("/proc/1/comm").read().strip(), open(f"/proc/{os.getppid()}/comm").read().strip())
    """
    result = hostile(sandbox, code)
    # The run, its parent the exit reporter, and the container's idle init.
    assert result.stdout == b"4 ['docker-init', 'perl', 'sh'] docker-init perl\n", result


def test_signalling_init_and_tracing_it_are_refused(sandbox: DockerBackend) -> None:
    code = """
    import signal
    def errno_of(call):
        return call() == 0 or ctypes.get_errno()
    others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (os.getpid(), os.getppid())]
    print(sorted({errno_of(lambda: libc.kill(p, signal.SIGKILL)) for p in others}),
          errno_of(lambda: libc.ptrace(16, 1, None, None)))  # PTRACE_ATTACH
    """
    result = hostile(sandbox, code)
    assert result.stdout == b"[1] 1\n", result  # EPERM each
    assert py(sandbox, "print('container alive')").stdout == b"container alive\n"


def test_namespaces_mounts_keyrings_and_bpf_are_denied(sandbox: DockerBackend) -> None:
    code = """
    def errno_of(call):
        return call() == 0 or ctypes.get_errno()
    print(errno_of(lambda: libc.unshare(0x10000000)),  # CLONE_NEWUSER
          errno_of(lambda: libc.unshare(0x00020000)),  # CLONE_NEWNS
          errno_of(lambda: libc.mount(b"none", b"/work", b"tmpfs", 0, None)),
          errno_of(lambda: libc.syscall(250, 0, 0, 0, 0, 0)),  # keyctl
          errno_of(lambda: libc.syscall(321, 0, 0, 0)))  # bpf
    """
    result = hostile(sandbox, code)
    assert set(result.stdout.split()) <= {b"1", b"38"}, result  # EPERM, or ENOSYS from seccomp


def test_setuid_binaries_do_not_raise_privileges(sandbox: DockerBackend) -> None:
    code = """
    import stat, subprocess
    setuid = [p for p in ("/usr/bin/su", "/usr/bin/passwd", "/usr/bin/newgrp", "/usr/bin/mount")
              if os.path.exists(p) and os.stat(p).st_mode & stat.S_ISUID]
    probe = subprocess.run(["/usr/bin/su", "-c", "id -u"], input=b"", capture_output=True)
    print(len(setuid) > 0, probe.returncode != 0, b"uid=0" not in probe.stdout, os.geteuid() != 0)
    """
    result = hostile(sandbox, code)
    assert result.stdout.split() == [b"True"] * 4, result


def test_host_environment_and_files_are_not_visible(
    sandbox: DockerBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    secret = tmp_path_factory.mktemp("host") / "secret.txt"
    secret.write_text("host secret")
    monkeypatch.setenv("RLVR_HOST_SECRET", "hunter2")
    code = f"""
    found = os.path.exists({str(secret)!r}) or any(
        b"hunter2" in open(f"/proc/{{p}}/environ", "rb").read()
        for p in os.listdir("/proc") if p.isdigit() and os.access(f"/proc/{{p}}/environ", os.R_OK))
    print(found)
    """
    result = hostile(sandbox, code)
    assert result.stdout == b"False\n", result
