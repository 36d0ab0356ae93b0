"""Hostile programs stay contained: each gets the right result and leaves the host unharmed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from rlvr.sandbox import Limits, run
from rlvr.sandbox.process.backend import ProcessBackend

from .conftest import CTYPES_PRELUDE, FAST, PYTHON, host_unharmed

pytestmark = pytest.mark.sandbox

SECRET = "rlvr-fake-secret-7f3a9c"


@pytest.fixture(autouse=True)
def host_is_unharmed(backend: ProcessBackend):
    """Around every test: no sandbox process survives, and the host's own files are untouched."""
    with host_unharmed(backend, "/tmp/rlvr-containment-canary"):
        yield


def dedent(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


# -- resource bombs -----------------------------------------------------------------------------

BOMBS = {
    "fork_bomb": "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass",
    "thread_bomb": "import threading, time\nwhile True: threading.Thread(target=time.sleep, args=(60,)).start()",
    "memory_bomb": "chunks = []\nwhile True: chunks.append(bytearray(16 * 2**20))",
    "cpu_bomb": "while True: pass",
    "fork_then_spin": "import os\nfor _ in range(3): os.fork()\nwhile True: pass",
    "sleep_past_wall": "import time; time.sleep(3600)",
    "block_on_stdin_pipe": "import os, time\nr, w = os.pipe()\nos.read(r, 1)",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_resource_bombs_end_as_a_failed_run(py, name: str) -> None:
    result = py(BOMBS[name])
    assert not result.ok
    assert result.sandbox_error is None
    assert result.wall_seconds < 30  # they would run forever; the limits end them (slack for a loaded box)


def test_memory_bomb_is_flagged_as_memory(py) -> None:
    assert py(BOMBS["memory_bomb"]).memory_exceeded


@pytest.mark.parametrize("name", ["cpu_bomb", "sleep_past_wall", "fork_then_spin"])
def test_time_bombs_are_flagged_as_timeouts(py, name: str) -> None:
    assert py(BOMBS[name]).timed_out


def test_thread_bomb_cannot_pass_the_process_limit(py) -> None:
    code = "import threading, time\nn = 0\ntry:\n    while n < 500:\n        threading.Thread(target=time.sleep, args=(3,), daemon=True).start(); n += 1\nexcept RuntimeError:\n    pass\nprint(n, flush=True)\nimport os; os._exit(0)"
    result = py(code, processes=16, memory_mb=512)
    assert result.exit_code == 0 and int(result.stdout) < 16


@pytest.mark.parametrize("language", ["c", "bash"])
def test_fork_bombs_in_other_languages_are_contained(backend: ProcessBackend, language: str) -> None:
    program = {
        "c": "#include <unistd.h>\nint main(void) { for (;;) fork(); }\n",
        "bash": ":(){ :|:& };:\nwait\n",
    }[language]
    result = run(program, language, limits=FAST, backend=backend)
    assert not result.compile_failed
    # bash survives its failed forks and may exit 0: what matters is the run ended and nothing is left.
    assert result.runs[0].sandbox_error is None and result.runs[0].wall_seconds < 30


def test_huge_stdout_and_stderr_together_stay_bounded(py) -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('o' * 65536); sys.stderr.write('e' * 65536)"
    result = py(code, output_bytes=1 << 16, wall_seconds=10)
    assert result.output_exceeded
    assert len(result.stdout) <= 1 << 16 and len(result.stderr) <= 1 << 16


def test_disk_filling_hits_the_workdir_cap(py) -> None:
    code = "try:\n    f = open('/tmp/fill', 'wb')\n    while True: f.write(b'x' * 2**20); f.flush()\nexcept OSError as e:\n    print(e.errno)"
    result = py(code, file_size_mb=64, workdir_mb=8)
    assert result.stdout == b"28\n"  # ENOSPC


def test_inode_filling_is_bounded_by_the_run(py) -> None:
    code = "import os\ni = 0\nwhile True:\n    open(f'f{i}', 'w').close(); i += 1"
    result = py(code, wall_seconds=1)
    assert not result.ok and result.sandbox_error is None


def test_fd_exhaustion_fails_inside_only(py) -> None:
    code = "import socket\ns = []\ntry:\n    while True: s.append(socket.socket())\nexcept OSError as e:\n    print(e.errno)"
    assert py(code).stdout == b"24\n"  # EMFILE


# -- processes that try to outlive the run --------------------------------------------------------


def test_orphan_holding_the_output_pipe_does_not_hold_the_run(py) -> None:
    code = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nprint('parent done')"
    result = py(code, wall_seconds=20)
    # ok means no timeout: the run ended with the parent, not 60 s later with the orphan.
    assert result.ok and result.stdout == b"parent done\n"


def test_daemon_that_double_forks_and_setsids_is_killed(py) -> None:
    code = dedent(
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for fd in (0, 1, 2): os.close(fd)
                time.sleep(60)
            os._exit(0)
        os.wait()
        print('detached')
        """
    )
    result = py(code, wall_seconds=10)
    assert result.ok and result.stdout == b"detached\n"


def test_persistence_across_runs_is_impossible(py) -> None:
    first = py("open('/w/mark', 'w').write('1'); open('/tmp/mark2', 'w').write('1'); print('ok')")
    assert first.ok
    second = py("import os; print(os.path.exists('/w/mark'), os.path.exists('/tmp/mark2'), os.listdir('.'))")
    assert second.stdout == b"False False []\n"


def test_concurrent_runs_cannot_talk_over_ipc(py) -> None:
    server = dedent(
        """
        import socket, sys, time, ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        print(libc.msgget(0x5EED, 0o1666), flush=True)  # IPC_CREAT
        s = socket.socket(socket.AF_UNIX); s.bind('\\0rlvr-ipc'); s.listen()
        print('listening', flush=True)
        time.sleep(1.5)
        """
    )
    client = dedent(
        """
        import socket, time, ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        time.sleep(0.5)
        print(libc.msgget(0x5EED, 0), ctypes.get_errno())
        try:
            socket.socket(socket.AF_UNIX).connect('\\0rlvr-ipc'); print('connected')
        except OSError as e:
            print('refused', e.errno)
        """
    )
    with ThreadPoolExecutor(2) as pool:
        served = pool.submit(py, server, wall_seconds=3)
        asked = pool.submit(py, client, wall_seconds=3)
        server_out, client_out = served.result().stdout, asked.result().stdout
    assert b"listening" in server_out
    queue_id, errno_, verdict = client_out.split()[:3]
    assert queue_id == b"-1" and errno_ == b"2"  # ENOENT: the other run's queue is invisible
    assert verdict == b"refused"


# -- reading what it must not see -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/etc/shadow", "/etc/passwd", "/root", "/home", "/work", "/var/lib", __file__]
)
def test_host_paths_are_not_visible(py, path: str) -> None:
    result = py(f"import os; print(os.path.exists({path!r}))")
    assert result.stdout == b"False\n"


def test_environment_secrets_are_not_inherited(py, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLVR_TEST_API_KEY", SECRET)
    code = dedent(
        """
        import os
        print(sorted(os.environ))
        for path in ('/proc/self/environ', '/proc/1/environ'):
            try:
                print(open(path).read())
            except OSError as e:  # pid 1 may be non-dumpable: unreadable is fine too
                print('unreadable', e.errno)
        """
    )
    result = py(code)
    assert result.ok and SECRET.encode() not in result.stdout
    assert b"RLVR_TEST_API_KEY" not in result.stdout
    assert set(eval(result.stdout.splitlines()[0])) <= {
        "PATH",
        "LANG",
        "LC_ALL",
        "HOME",
        "TMPDIR",
        "PWD",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING",
    }


def test_proc_shows_only_the_sandbox_pids(py) -> None:
    code = "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\nprint(os.getpid())"
    result = py(code)
    pids = eval(result.stdout.splitlines()[0])
    assert max(pids) < 10 and os.getpid() not in pids or len(pids) <= 3
    assert len(pids) <= 3


def test_host_processes_environ_and_memory_are_unreachable(py) -> None:
    # Even guessing a host pid leads nowhere: /proc is the sandbox's own pid namespace.
    code = f"import os\ntry:\n    print(open('/proc/{os.getpid()}/environ').read())\nexcept OSError as e:\n    print('denied', e.errno)"
    result = py(code)
    assert result.stdout.startswith(b"denied")


# -- network ------------------------------------------------------------------------------------


def test_tcp_to_a_host_loopback_server_fails(py) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    code = f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1); print('connected')\nexcept OSError as e:\n    print('failed', e.errno)"
    result = py(code)
    assert result.stdout.startswith(b"failed")
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()


def test_udp_to_a_host_listener_never_arrives(py) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    code = f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n    s.sendto(b'leak', ('127.0.0.1', {port})); print('sent')\nexcept OSError as e:\n    print('failed', e.errno)"
    py(code)
    with pytest.raises(TimeoutError):
        listener.recvfrom(16)
    listener.close()


def test_dns_and_external_addresses_are_unreachable(py) -> None:
    code = dedent(
        """
        import socket
        try:
            socket.getaddrinfo('example.com', 80); print('resolved')
        except OSError:
            print('no dns')
        try:
            socket.create_connection(('1.1.1.1', 53), timeout=1); print('connected')
        except OSError:
            print('no route')
        print(sorted(n for _, n in socket.if_nameindex()))
        """
    )
    assert py(code).stdout == b"no dns\nno route\n['lo']\n"


# -- signalling, tracing, privileges --------------------------------------------------------------


def test_signals_reach_no_host_process(py) -> None:
    victim = subprocess.Popen(["sleep", "30"])
    code = f"import os, signal\nfor pid in (1, os.getppid(), {victim.pid}, -1):\n    try: os.kill(pid, signal.SIGKILL)\n    except OSError: pass\nprint('alive')"
    try:
        result = py(code)
        assert victim.poll() is None, "a sandboxed program killed a host process"
        assert result.sandbox_error is None
    finally:
        victim.kill()
        victim.wait()


def test_killing_its_own_init_does_not_confuse_the_result(py) -> None:
    result = py("import os, signal\nos.kill(1, signal.SIGKILL)\nprint('still here')")
    assert result.ok and result.stdout == b"still here\n"


@pytest.mark.parametrize(
    "call",
    [
        "libc.ptrace(0, 0, 0, 0)",  # PTRACE_TRACEME
        "libc.ptrace(16, os.getppid(), 0, 0)",  # PTRACE_ATTACH to the parent
        "libc.unshare(0x10000000)",  # CLONE_NEWUSER
        "libc.unshare(0x00020000)",  # CLONE_NEWNS
        "libc.mount(b'none', b'/w', b'tmpfs', 0, None)",
        "libc.syscall(250, 0, 0, 0, 0, 0)",  # keyctl
        "libc.syscall(321, 0, 0, 0)",  # bpf
        "libc.syscall(298, 0, 0, -1, -1, 0)",  # perf_event_open
        "libc.syscall(425, 1, 0)",  # io_uring_setup
        "libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)",  # raw clone(CLONE_NEWUSER | SIGCHLD)
        "libc.syscall(310, 1, 0, 0, 0, 0, 0)",  # process_vm_readv of pid 1
        "libc.chroot(b'/w')",
    ],
)
def test_dangerous_syscalls_are_refused(py, call: str) -> None:
    result = py(CTYPES_PRELUDE + f"r = {call}\nprint(r, ctypes.get_errno())")
    assert result.stdout == b"-1 1\n"  # EPERM


def test_x32_syscall_abi_is_killed(py) -> None:
    result = py(CTYPES_PRELUDE + "libc.syscall(0x40000000 | 39)\nprint('survived')")  # x32 getpid
    assert result.signal == signal.SIGSYS and result.stdout == b""


def test_setuid_binaries_grant_nothing(py) -> None:
    code = dedent(
        """
        import os, subprocess
        candidates = [p for p in ('/usr/bin/su', '/usr/bin/passwd', '/usr/bin/mount', '/usr/bin/newgrp')
                      if os.path.exists(p) and os.stat(p).st_mode & 0o4000]
        print(len(candidates) > 0)
        for path in candidates:
            r = subprocess.run([path, '--help'] if path.endswith('mount') else [path], input=b'', capture_output=True)
        r = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'none', '/w'], capture_output=True)
        status = open('/proc/self/status').read()
        print(r.returncode != 0, status.split('CapEff:')[1].split()[0])
        print(status.split('NoNewPrivs:')[1].split()[0])
        """
    )
    result = py(code, wall_seconds=5)
    assert result.stdout == b"True\nTrue 0000000000000000\n1\n"


def test_the_program_has_no_capabilities_and_no_terminal(py) -> None:
    code = "s = open('/proc/self/status').read()\nprint([l.split()[1] for l in s.splitlines() if l.startswith('CapEff')])\ntry:\n    open('/dev/tty')\nexcept OSError as e:\n    print('no tty', e.errno)"
    assert py(code).stdout == b"['0000000000000000']\nno tty 6\n"


# -- writing where it must not write --------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/usr/lib/evil", "/etc/evil", "/evil", "/dev/shm/evil", "/proc/sys/kernel/hostname"]
)
def test_system_paths_are_read_only(py, path: str) -> None:
    code = f"try:\n    open({path!r}, 'w').write('x'); print('wrote')\nexcept OSError as e:\n    print('refused')"
    assert py(code).stdout == b"refused\n"


def test_hostname_change_stays_inside(py) -> None:
    before = socket.gethostname()
    py(CTYPES_PRELUDE + "libc.sethostname(b'pwned', 5)")
    assert socket.gethostname() == before


def test_concurrent_hostile_runs_do_not_disturb_a_normal_run(backend: ProcessBackend) -> None:
    results: dict[str, object] = {}

    def go(name: str, code: str) -> None:
        results[name] = backend.run([PYTHON, "-c", code], limits=FAST)

    threads = [
        threading.Thread(target=go, args=("bomb", BOMBS["fork_bomb"])),
        threading.Thread(target=go, args=("normal", "print(sum(range(1000)))")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    normal = results["normal"]
    assert normal.ok and normal.stdout == b"499500\n"  # type: ignore[attr-defined]


def test_limits_default_is_sane() -> None:
    limits = Limits()
    assert limits.wall_seconds > limits.cpu_seconds > 0
