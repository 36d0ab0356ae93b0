"""The docker backend against a real engine and the locally built rlvr-sandbox image."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rlvr.sandbox import Limits, RunResult, SandboxUnavailable
from rlvr.sandbox import run as run_program
from rlvr.sandbox.docker import DockerBackend
from rlvr.sandbox.docker.cgroup import HostCgroup
from rlvr.sandbox.docker.containers import OWNER_LABEL
from rlvr.sandbox.docker.scripts import EXIT_REPORT, READY

pytestmark = pytest.mark.docker

SMALL = Limits(cpu_seconds=2.0, wall_seconds=10.0, memory_mb=128, processes=16, open_files=32, workdir_mb=8)
# Lists the other processes of the run's uid in the container but its parent, the exit reporter
# (docker-init and its shell run as nobody): "pid command" per line.
PS = """\
import os
for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):
    try:
        uid = [line.split()[1] for line in open(f'/proc/{pid}/status') if line.startswith('Uid:')][0]
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode().strip()
    except OSError:
        continue
    if pid not in (os.getpid(), os.getppid()) and int(uid) == os.getuid():
        print(pid, cmd)
"""


def available(backend: DockerBackend) -> DockerBackend:
    try:
        backend.check()
    except SandboxUnavailable as e:
        if os.environ.get("RLVR_REQUIRE_DOCKER") == "1":
            pytest.fail(f"RLVR_REQUIRE_DOCKER=1 but the docker backend is unavailable: {e}")
        pytest.skip(f"docker backend unavailable: {e}")
    return backend


@pytest.fixture(scope="module")
def sandbox() -> Iterator[DockerBackend]:
    chosen = available(DockerBackend(max_containers=2))
    yield chosen
    chosen.close()


@pytest.fixture(scope="module")
def remote_like() -> Iterator[DockerBackend]:
    """A backend that cannot read the containers' cgroups from the host, as with a remote engine, so
    every run ends with the in-container cleanup exec."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HostCgroup, "find", classmethod(lambda cls, container_id, pid: None))
        chosen = available(DockerBackend(max_containers=1))
        yield chosen
        chosen.close()


@pytest.fixture(params=["host-cgroup", "cleanup-exec"])
def either(request: pytest.FixtureRequest) -> DockerBackend:
    """Both ways a run is settled: host cgroup reads (local engine) and the cleanup exec."""
    return request.getfixturevalue("sandbox" if request.param == "host-cgroup" else "remote_like")


def py(sandbox: DockerBackend, code: str, stdin: bytes = b"", **limits: float) -> RunResult:
    return sandbox.run(
        ["python3", "-c", textwrap.dedent(code)], stdin=stdin, limits=dataclasses.replace(SMALL, **limits)
    )


def leftovers(sandbox: DockerBackend) -> list[str]:
    """Processes of earlier runs still in the warm container of SMALL's shape."""
    result = py(sandbox, PS)
    assert result.ok, result
    return result.stdout.decode().splitlines()


def test_python_hello_world_runs_with_stdin(either: DockerBackend) -> None:
    result = py(either, "print('hello', input()[::-1])", stdin=b"dlrow\n")
    assert result.ok, result
    assert result.stdout == b"hello world\n"
    assert result.cpu_seconds > 0


def test_c_compiles_in_the_image_and_its_binary_runs_from_collected_bytes(sandbox: DockerBackend) -> None:
    source = (
        b'#include <stdio.h>\nint main(void){int a,b; scanf("%d %d",&a,&b); printf("%d\\n",a+b); return 3;}\n'
    )
    built = sandbox.run(
        ["gcc", "-O2", "-o", "main", "main.c"], files={"main.c": source}, limits=SMALL, collect=["main"]
    )
    assert built.ok, built
    assert built.files["main"][:4] == b"\x7fELF"
    ran = sandbox.run(["./main"], files={"main": built.files["main"]}, stdin=b"2 40\n", limits=SMALL)
    assert (ran.exit_code, ran.stdout) == (3, b"42\n")


def test_program_api_compiles_cpp_and_runs_each_stdin_on_docker(sandbox: DockerBackend) -> None:
    source = "#include <iostream>\nint main(){long a,b; std::cin>>a>>b; std::cout<<a*b<<std::endl;}\n"
    result = run_program(source, "cpp", [b"6 7\n", b"-3 5\n"], limits=SMALL, backend=sandbox)
    assert result.compile is not None and result.compile.ok, result.compile
    assert [run.stdout for run in result.runs] == [b"42\n", b"-15\n"]


def test_memory_limit_kills_and_reports_memory_exceeded(either: DockerBackend) -> None:
    result = py(either, "x = bytearray(400 << 20); print('survived')")
    assert result.memory_exceeded and not result.ok
    assert result.signal == 9 and b"survived" not in result.stdout


def test_an_exit_status_of_128_plus_n_is_an_exit_code_and_a_signal_death_a_signal(
    either: DockerBackend,
) -> None:
    # Docker reports both as the status 128+n; the exit reporter tells them apart.
    exits = [py(either, f"import sys; sys.exit({code})") for code in (137, 152, 139)]
    assert [(r.exit_code, r.signal) for r in exits] == [(137, None), (152, None), (139, None)], exits
    assert not any(r.memory_exceeded or r.timed_out or r.sandbox_error for r in exits)
    killed = [py(either, f"import os; os.kill(os.getpid(), {n})") for n in (9, 24, 11)]
    assert [(r.exit_code, r.signal) for r in killed] == [(None, 9), (None, 24), (None, 11)], killed
    assert not killed[0].memory_exceeded and killed[1].timed_out  # SIGXCPU reads as the CPU limit


@pytest.mark.parametrize("forged", ["exit 3", r"\ncpu_ns=0\c"])
def test_a_forged_exit_report_naming_another_status_is_ignored(either: DockerBackend, forged: str) -> None:
    # A report the reporter cannot overwrite (read-only), claiming an exit the status does not show,
    # or trying to inject lines into what the cleanup reports.
    container = "print(open('/proc/1/stat').read().split()[21])"  # init's start time: which container
    before = py(either, container).stdout
    forge = f"""
    import os
    with open({EXIT_REPORT!r}, "w") as f:
        f.write({forged!r})
    os.chmod({EXIT_REPORT!r}, 0o444)
    os.kill(os.getpid(), 9)
    """
    result = py(either, forge)
    assert (result.exit_code, result.signal) == (None, 9) and result.cpu_seconds > 0, result
    assert py(either, "import os; print(os.listdir('/dev/shm'))").stdout == b"[]\n"
    assert py(either, container).stdout == before  # the container was kept: its cleanup worked


def test_process_limit_stops_a_fork_bomb_and_the_container_stays_usable(sandbox: DockerBackend) -> None:
    bomb = """
    import os, time
    n = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            n += 1
    except OSError as e:
        print(n, e.errno)
    """
    result = py(sandbox, bomb)
    forked, errno = map(int, result.stdout.split())
    assert errno == 11  # EAGAIN: RLIMIT_NPROC / pids cgroup
    assert forked < SMALL.processes
    assert leftovers(sandbox) == []


def test_wall_limit_kills_the_whole_tree_from_outside(sandbox: DockerBackend) -> None:
    result = sandbox.run(
        ["sh", "-c", "sleep 600 & sleep 600 & sleep 600"], limits=dataclasses.replace(SMALL, wall_seconds=1.0)
    )
    assert result.timed_out and result.signal == 9 and result.exit_code is None
    assert leftovers(sandbox) == []


def test_cpu_limit_stops_a_busy_loop_as_timed_out(sandbox: DockerBackend) -> None:
    result = py(sandbox, "while True: pass", cpu_seconds=1.0)
    assert result.timed_out and not result.ok
    assert result.signal in (9, 24)  # SIGXCPU at the soft limit, SIGKILL at the hard one
    assert result.cpu_seconds > 0.5  # the cgroup counts the busy loop (its tick accounting differs slightly)


def test_output_is_capped_and_the_run_killed(sandbox: DockerBackend) -> None:
    result = py(sandbox, "import sys\nwhile True: sys.stdout.write('x' * 4096)", output_bytes=10_000)
    assert result.output_exceeded and result.stdout_truncated and not result.ok
    assert result.stdout == b"x" * 10_000


def test_stderr_is_capped_separately_from_stdout(sandbox: DockerBackend) -> None:
    code = "import sys\nprint('fine')\nsys.stdout.flush()\nsys.stderr.write('e' * 50_000)"
    result = py(sandbox, code, output_bytes=1000)
    assert result.output_exceeded and result.sandbox_error is None
    assert result.stderr_truncated and not result.stdout_truncated
    assert result.stderr == b"e" * 1000
    # The run is killed at the overflow; docker does not order the two streams, so stdout's line may
    # not have arrived by then. What did arrive is whole.
    assert result.stdout in (b"", b"fine\n")


def test_there_is_no_network(sandbox: DockerBackend) -> None:
    code = """
    import socket
    print(sorted(name for _, name in socket.if_nameindex()))
    for address in [("1.1.1.1", 53), ("172.17.0.1", 2375)]:
        try:
            socket.create_connection(address, timeout=2)
            print("connected", address)
        except OSError as e:
            print("refused", e.errno)
    """
    result = py(sandbox, code)
    assert result.ok, result
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "['lo']"
    assert lines[1:] == ["refused 101", "refused 101"]  # ENETUNREACH


def test_system_is_read_only_and_work_dir_is_the_only_writable_place(sandbox: DockerBackend) -> None:
    code = """
    import os
    for path in ["/etc/passwd", "/tmp/x", "/usr/bin/x", "/x"]:
        try:
            open(path, "a").close()
            print("wrote", path)
        except OSError as e:
            print(e.errno, path)
    open("ok.txt", "w").write("fine")
    print(os.getcwd(), open("ok.txt").read())
    """
    result = py(sandbox, code)
    assert result.ok, result
    assert result.stdout.decode().splitlines() == [
        "13 /etc/passwd",  # EACCES: not even the owner may write there
        "30 /tmp/x",  # EROFS
        "30 /usr/bin/x",
        "30 /x",
        "/work fine",
    ]


def test_runs_as_non_root_without_capabilities_or_new_privileges(sandbox: DockerBackend) -> None:
    code = """
    import os
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    caps = [int(status[name], 16) for name in ("CapEff", "CapPrm", "CapBnd")]
    print(os.getuid(), os.getgid(), *caps, status["NoNewPrivs"].strip())
    """
    result = py(sandbox, code)
    uid, gid, effective, permitted, bounding, no_new_privs = map(int, result.stdout.split())
    assert uid != 0 and gid != 0
    assert (effective, permitted, bounding, no_new_privs) == (0, 0, 0, 1)


def test_environment_is_the_allowlist_only(sandbox: DockerBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RLVR_TEST_SECRET", "hunter2")
    result = py(sandbox, "import os; print(sorted(os.environ))")
    assert result.stdout.decode().strip() == str(["HOME", "HOSTNAME", "LANG", "PATH", "PWD", "TMPDIR"])


def test_files_go_in_with_mode_0755_and_only_regular_collected_files_come_back(
    sandbox: DockerBackend,
) -> None:
    script = "cat data/in.txt > out.txt; echo more >> out.txt; mkdir dir; ln -s /etc/passwd ln; stat -c%a $0"
    result = sandbox.run(
        ["./run.sh"],
        files={"run.sh": f"#!/bin/sh\n{script}\n".encode(), "data/in.txt": b"given\n"},
        limits=SMALL,
        collect=["out.txt", "missing.txt", "dir", "ln"],
    )
    assert result.ok, result
    assert result.stdout == b"755\n"
    assert result.files == {"out.txt": b"given\nmore\n"}


def test_file_names_outside_the_work_dir_are_refused(sandbox: DockerBackend) -> None:
    for name in ["../escape", "/etc/passwd", ""]:
        with pytest.raises(ValueError, match="relative path"):
            sandbox.run(["true"], files={name: b"x"}, limits=SMALL)


def test_file_size_work_dir_and_open_file_limits_hold(sandbox: DockerBackend) -> None:
    code = """
    import errno, os, signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    def attempt(action):
        try:
            action()
            return "ok"
        except OSError as e:
            return errno.errorcode[e.errno]
    def big_file():
        with open("big", "wb") as f:
            f.write(b"x" * (3 << 20))
    def fill_work_dir():
        for i in range(10):
            with open(f"fill{i}", "wb") as f:
                f.write(b"x" * (1 << 20))
    def many_files():
        for i in range(5000):
            open(f"empty{i}", "w").close()
    print(attempt(big_file), attempt(fill_work_dir), attempt(lambda: [open("/dev/null") for _ in range(100)]))
    for name in os.listdir("."):
        os.remove(name)
    print(attempt(many_files), len(os.listdir(".")))
    """
    result = py(sandbox, code, file_size_mb=2, workdir_mb=4, open_files=32)
    assert result.stdout.split() == [b"EFBIG", b"ENOSPC", b"EMFILE", b"ENOSPC", b"1023"]


def test_warm_container_is_reused_and_a_run_never_sees_what_the_previous_run_left(
    either: DockerBackend,
) -> None:
    code = """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    sysv = [len(open(f"/proc/sysvipc/{kind}").readlines()) - 1 for kind in ("shm", "msg", "sem")]
    print(open("/proc/1/stat").read().split()[21], os.listdir("."), os.listdir("/dev/shm"),
          os.listdir("/dev/mqueue"), sysv)
    os.mkdir("locked")
    open("locked/secret.txt", "w").write("from an earlier run")
    os.chmod("locked", 0)
    open(".hidden", "w").write("from an earlier run")
    open("/dev/shm/shared", "w").write("from an earlier run")
    assert libc.shmget(1234, 4096, 0o1600) >= 0 and libc.msgget(1234, 0o1600) >= 0  # IPC_CREAT | 0600
    assert libc.mq_open(b"/queue", os.O_CREAT | os.O_RDWR, 0o600, None) >= 0
    """
    first = py(either, code)
    second = py(either, code)
    assert first.ok and second.ok, (first, second)
    first_init, _ = first.stdout.split(maxsplit=1)
    second_init, second_view = second.stdout.split(maxsplit=1)
    assert first_init == second_init  # the same container's pid 1: a warm exec, not a new container
    assert second_view == b"[] [] [] [0, 0, 0]\n"


def test_daemons_and_orphans_holding_the_pipes_do_not_outlive_the_run(either: DockerBackend) -> None:
    daemon = "setsid sh -c 'sleep 600' </dev/null >/dev/null 2>&1 & (sleep 600 &) ; echo started"
    result = either.run(["sh", "-c", daemon], limits=SMALL)
    # The orphan keeps stdout open: the run must still end when its main process exits.
    assert result.ok and result.stdout == b"started\n", result
    assert leftovers(either) == []


def test_run_many_gives_one_isolated_result_per_stdin(sandbox: DockerBackend) -> None:
    code = "import os; print(input(), len(os.listdir('.'))); open(input() + '.txt', 'w')"
    results = sandbox.run_many(["python3", "-c", code], stdins=[b"a\nx\n", b"b\ny\n"], limits=SMALL)
    assert [r.stdout for r in results] == [b"a 0\n", b"b 0\n"]


def test_missing_image_is_unavailable_with_a_fix_and_run_reports_a_sandbox_error() -> None:
    missing = DockerBackend(image="rlvr-sandbox:no-such-tag")
    try:
        with pytest.raises(SandboxUnavailable, match="build.sh"):
            missing.check()
        result = missing.run(["true"], limits=SMALL)
        assert result.sandbox_error and "build.sh" in result.sandbox_error
        assert not result.ok
    finally:
        missing.close()


def owners_containers(sandbox: DockerBackend, pid: int) -> list[dict]:
    label = f"{OWNER_LABEL}={os.uname().nodename}:{pid}"
    return sandbox._get_pool().engine.api.containers(all=True, filters={"label": label})


def test_containers_go_away_when_their_owner_is_killed_even_if_its_forked_child_lives(
    sandbox: DockerBackend,
) -> None:
    crash = """
import os, signal, sys, time
from rlvr.sandbox.docker.backend import DockerBackend
b = DockerBackend()
assert b.run(['true']).ok
if os.fork() == 0:  # holds copies of every fd the owner had, unless the backend closes them
    time.sleep(60)
    os._exit(0)
print(os.getpid(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    owner = subprocess.Popen([sys.executable, "-c", crash], stdout=subprocess.PIPE, start_new_session=True)
    try:
        dead_pid = int(owner.stdout.readline())  # type: ignore[union-attr]
        owner.wait(timeout=60)
        for _ in range(100):  # the engine needs a moment to see the lifeline close and remove the container
            if not owners_containers(sandbox, dead_pid):
                break
            time.sleep(0.1)
        assert owners_containers(sandbox, dead_pid) == []
    finally:
        os.killpg(owner.pid, 9)  # the forked child


def test_close_removes_the_backends_warm_containers(sandbox: DockerBackend) -> None:
    script = (
        "import os; from rlvr.sandbox.docker import DockerBackend; "
        "from rlvr.sandbox.docker.containers import OWNER_LABEL; b = DockerBackend(); "
        "assert b.run(['true']).ok; label = f'{OWNER_LABEL}={os.uname().nodename}:{os.getpid()}'; "
        "api = b._get_pool().engine.api; n = len(api.containers(filters={'label': label})); b.close(); "
        "print(n, len(api.containers(all=True, filters={'label': label})))"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert child.stdout == b"1 0\n", child.stderr


def test_a_program_printing_the_ready_marker_gets_it_back_as_its_own_output(sandbox: DockerBackend) -> None:
    marker = READY.decode()
    result = py(sandbox, f"import sys; print({marker!r}, end=''); print({marker!r}, end='', file=sys.stderr)")
    assert result.ok and result.stdout == READY and result.stderr == READY


def test_files_too_big_for_the_work_dir_are_a_sandbox_error_not_a_program_failure(
    sandbox: DockerBackend,
) -> None:
    result = sandbox.run(["true"], files={"big": b"x" * (SMALL.workdir_mb + 1 << 20)}, limits=SMALL)
    assert result.sandbox_error and "setup failed" in result.sandbox_error and result.exit_code is None
    assert py(sandbox, "print('next run fine')").stdout == b"next run fine\n"


def test_unread_stdin_does_not_block_the_run(sandbox: DockerBackend) -> None:
    result = py(sandbox, "print('ignored my stdin')", stdin=b"y\n" * (2 << 20))
    assert result.ok and result.stdout == b"ignored my stdin\n"


def test_concurrent_runs_from_threads_get_their_own_results(sandbox: DockerBackend) -> None:
    with ThreadPoolExecutor(2) as threads:
        results = list(threads.map(lambda i: py(sandbox, f"print({i} * {i})"), range(6)))
    assert [r.stdout for r in results] == [f"{i * i}\n".encode() for i in range(6)]


def test_a_forked_child_runs_in_its_own_containers_and_leaves_the_parents_alone(
    sandbox: DockerBackend,
) -> None:
    init_started = "print(open('/proc/1/stat').read().split()[21])"  # identifies the container
    parents = py(sandbox, init_started).stdout
    parent_containers = {c["Id"] for c in owners_containers(sandbox, os.getpid())}
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, reports by exit status
        try:
            result = py(sandbox, init_started)
            sandbox.close()
            os._exit(0 if result.ok and result.stdout != parents else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert owners_containers(sandbox, child) == []
    assert {c["Id"] for c in owners_containers(sandbox, os.getpid())} == parent_containers
    assert py(sandbox, "print('parent still runs')").stdout == b"parent still runs\n"


def test_a_warm_container_removed_behind_the_backends_back_is_replaced(sandbox: DockerBackend) -> None:
    assert py(sandbox, "print(1)").ok
    for container in owners_containers(sandbox, os.getpid()):
        subprocess.run(["docker", "rm", "-f", container["Id"]], capture_output=True, check=True)
    result = py(sandbox, "print('fresh container')")
    assert result.ok and result.stdout == b"fresh container\n", result


def test_an_unreachable_engine_is_unavailable_with_a_fix_and_run_reports_a_sandbox_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    nowhere = DockerBackend()
    with pytest.raises(SandboxUnavailable, match="start it"):
        nowhere.check()
    result = nowhere.run(["true"])
    assert not result.ok and result.sandbox_error and "start it" in result.sandbox_error
