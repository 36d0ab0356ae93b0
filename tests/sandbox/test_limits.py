"""Each limit of `Limits` is enforced by the process backend and reported with the right flag."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from rlvr.sandbox import InvalidLimits, Limits
from rlvr.sandbox.process.backend import ProcessBackend

from .conftest import PYTHON, TEST_UID_BASE, live_pids, sandbox_uid_processes

pytestmark = pytest.mark.sandbox


def test_cpu_limit_stops_a_busy_loop_and_is_reported_as_timeout(py) -> None:
    result = py("while True: pass", cpu_seconds=1, wall_seconds=60)
    assert result.timed_out and not result.ok
    assert result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert result.cpu_seconds > 0.5  # measured (rusage and the rlimit sample CPU time slightly differently)


def test_cpu_limit_holds_even_when_sigxcpu_is_ignored(py) -> None:
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass"
    result = py(code, cpu_seconds=1, wall_seconds=60)
    assert result.timed_out
    assert result.signal == signal.SIGKILL


def test_wall_limit_kills_a_sleeper(py) -> None:
    result = py("import time; time.sleep(60)", wall_seconds=1)
    assert result.timed_out and result.signal == signal.SIGKILL
    assert result.wall_seconds < 30


def test_memory_limit_is_reported_as_memory_exceeded(py) -> None:
    result = py("x = bytearray(400 * 2**20)", memory_mb=128)
    assert result.memory_exceeded and not result.timed_out and not result.ok


def test_memory_just_under_the_limit_is_fine(py) -> None:
    result = py("x = bytearray(40 * 2**20); print(len(x))", memory_mb=128)
    assert result.ok and result.stdout == b"41943040\n"


def test_process_limit_caps_concurrent_processes(py) -> None:
    code = textwrap.dedent(
        """
        import os, time
        n = 0
        try:
            while n < 100:
                if os.fork() == 0:
                    time.sleep(5); os._exit(0)
                n += 1
        except OSError:
            pass
        print(n)
        """
    )
    result = py(code, processes=8, wall_seconds=3)
    assert result.exit_code == 0
    assert int(result.stdout) < 8


def test_open_files_limit_caps_descriptors(py) -> None:
    code = "import os\nfds = []\ntry:\n    while True: fds.append(os.open('/dev/null', 0))\nexcept OSError as e:\n    print(len(fds), e.errno)"
    result = py(code, open_files=20)
    count, err = result.stdout.split()
    assert int(count) < 20 and int(err) == 24  # EMFILE


def test_file_size_limit_stops_a_large_write(py) -> None:
    # CPython ignores SIGXFSZ, so the write fails with EFBIG instead of killing the process.
    code = "try:\n    open('big', 'wb').write(b'x' * (5 * 2**20))\nexcept OSError as e:\n    print(e.errno)"
    result = py(code, file_size_mb=1, workdir_mb=16)
    assert result.stdout == b"27\n"


def test_workdir_space_is_capped(py) -> None:
    code = textwrap.dedent(
        """
        written = 0
        try:
            for i in range(100):
                with open(f'f{i}', 'wb') as f:
                    f.write(b'x' * 2**20)
                written += 1
        except OSError as e:
            print(written, e.errno)
        """
    )
    result = py(code, workdir_mb=4, file_size_mb=2)
    written, err = result.stdout.split()
    assert int(written) <= 4 and int(err) == 28  # ENOSPC


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_endless_output_is_capped_and_the_run_killed(py, stream: str) -> None:
    result = py(
        f"import sys\nwhile True: sys.{stream}.write('x' * 4096)", output_bytes=10_000, wall_seconds=10
    )
    assert result.output_exceeded and not result.ok and not result.timed_out
    captured = getattr(result, stream)
    assert len(captured) == 10_000 and getattr(result, f"{stream}_truncated")


def test_output_exactly_at_the_cap_is_not_an_overflow(py) -> None:
    result = py("import sys; sys.stdout.write('y' * 1000)", output_bytes=1000)
    assert result.ok and len(result.stdout) == 1000 and not result.stdout_truncated


def test_wall_kill_takes_the_whole_process_tree(backend: ProcessBackend, py) -> None:
    code = "import os, time\nfor _ in range(3):\n    os.fork()\ntime.sleep(60)"
    result = py(code, wall_seconds=1)
    assert result.timed_out
    assert sandbox_uid_processes(backend) == []


def test_stdin_is_delivered_and_ends_with_eof(py) -> None:
    data = b"line\n" * 100_000  # larger than a pipe buffer
    result = py(
        "import sys; d = sys.stdin.buffer.read(); print(len(d), sys.stdin.buffer.read() == b'')", stdin=data
    )
    assert result.stdout == b"500000 True\n"


def test_collect_reads_back_files_and_omits_missing_ones(backend: ProcessBackend) -> None:
    result = backend.run(["/bin/sh", "-c", "printf abc > out.bin; echo done"], collect=["out.bin", "absent"])
    assert result.ok and result.stdout == b"done\n"
    assert result.files == {"out.bin": b"abc"}


def test_files_must_stay_inside_the_work_dir(backend: ProcessBackend) -> None:
    with pytest.raises(ValueError, match="relative path"):
        backend.run(["/bin/true"], files={"../escape": b"x"})


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def _sleepers(uids: set[int]) -> set[int]:
    return {pid for pid in live_pids(uids) if open(f"/proc/{pid}/comm").read().strip() == "sleep"}


def test_killing_the_caller_kills_its_sandboxes(backend: ProcessBackend) -> None:
    # A verifier worker may be SIGKILLed mid-run: bwrap's parent-death signals take everything down.
    if backend.slots is None:
        pytest.skip("needs slot uids (root) to find the sandbox's processes")
    # Its own uids: the session backend's ready sandboxes (which must survive) are not the worker's.
    base = TEST_UID_BASE + 48
    script = (
        "from rlvr.sandbox import Limits\n"
        "from rlvr.sandbox.process.backend import ProcessBackend\n"
        f"ProcessBackend(uid_base={base}, slots=4).run(['/bin/sleep', '60'], limits=Limits(wall_seconds=60))\n"
    )
    uids = set(range(base, base + 4))
    before = _sleepers(uids)
    worker = subprocess.Popen([sys.executable, "-c", script])
    assert _wait_for(lambda: _sleepers(uids) - before), "the sandboxed program never started"
    sleeper = next(iter(_sleepers(uids) - before))
    sandbox = {sleeper, *(pid for pid in live_pids(uids) if pid != sleeper)} - before
    worker.kill()
    worker.wait()
    assert _wait_for(lambda: not set(live_pids(uids)) & sandbox), "the sandbox outlived its caller"


def test_an_abandoned_slot_is_reclaimed_before_reuse(backend: ProcessBackend) -> None:
    # A holder killed at the worst moment (e.g. while bwrap was still setting up) may leave a process
    # of its uid behind; the next user of the slot kills it first.
    if backend.slots is None:
        pytest.skip("needs slot uids (root)")
    script = (
        "import subprocess, time\n"
        "from rlvr.sandbox.process.slots import SlotPool\n"
        f"with SlotPool({TEST_UID_BASE}, 16).acquire() as uid:\n"
        "    subprocess.Popen(['/bin/sleep', '60'], user=uid, group=uid, extra_groups=[])\n"
        "    print(uid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert holder.stdout is not None
    uid = int(holder.stdout.readline())
    assert _wait_for(lambda: _sleepers({uid}))
    holder.kill()
    holder.wait()
    assert _sleepers({uid}), "the orphan should still be there before the slot is reused"
    with backend.slots.idle() as idle:
        assert uid in idle
    assert not _sleepers({uid})


def test_concurrent_runs_get_distinct_uids(backend: ProcessBackend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    if backend.slots is None:
        pytest.skip("slot uids need root")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: backend.run(["/bin/sh", "-c", "sleep 0.3; id -u"]), range(4)))
    uids = {r.stdout for r in results}
    assert len(uids) == 4


def test_limits_scaled_multiplies_only_time() -> None:
    limits = Limits(cpu_seconds=2, wall_seconds=3, memory_mb=100).scaled(2)
    assert (limits.cpu_seconds, limits.wall_seconds, limits.memory_mb) == (4, 6, 100)


@pytest.mark.parametrize("field", ["cpu_seconds", "memory_mb", "processes", "output_bytes"])
def test_non_positive_limits_are_refused_with_the_field_named(field: str) -> None:
    with pytest.raises(InvalidLimits, match=f"Limits.{field}=0"):
        Limits(**{field: 0})


TREE_BOMB = (
    "import os, sys, time\n"
    "if sys.stdin.read() == 'bomb':\n"
    "    for _ in range(8):\n"
    "        if os.fork() == 0:\n"
    "            hog = bytearray(100 * 2**20); time.sleep(2); os._exit(0)\n"
    "    time.sleep(3)\n"
    "print('parent done')\n"
)


@pytest.fixture(scope="module")
def capped() -> ProcessBackend:
    """A backend with per-run memory cgroups, on its own uids (skips where the host has none)."""
    chosen = ProcessBackend(uid_base=TEST_UID_BASE + 32, slots=4, memory_cgroups=True)
    if not chosen.memory_cgroups:
        pytest.skip("no writable cgroup v1 memory controller (needs root): rlimits only")
    return chosen


def test_memory_of_the_whole_tree_is_capped_by_the_cgroup(capped: ProcessBackend) -> None:
    # 8 children x 100 MiB each stay under the per-process rlimit; only the group cap stops them.
    limits = Limits(memory_mb=128, processes=16, workdir_mb=8, wall_seconds=10, cpu_seconds=5)
    result = capped.run([PYTHON, "-c", TREE_BOMB], stdin=b"bomb", limits=limits)
    assert result.memory_exceeded and not result.ok and not result.timed_out


def test_a_tree_memory_bomb_in_a_batch_is_pinned_on_its_own_run(capped: ProcessBackend) -> None:
    limits = Limits(memory_mb=128, processes=16, workdir_mb=8, wall_seconds=10, cpu_seconds=5)
    results = capped.run_many([PYTHON, "-c", TREE_BOMB], stdins=[b"", b"bomb", b""], limits=limits)
    assert [r.memory_exceeded for r in results] == [False, True, False]
    assert [r.stdout for r in results] == [b"parent done\n"] * 3


def test_a_plain_crash_in_a_capped_sandbox_is_not_a_memory_death(capped: ProcessBackend) -> None:
    result = capped.run([PYTHON, "-c", "import os; os.kill(os.getpid(), 11)"], limits=Limits(memory_mb=128))
    assert result.signal == signal.SIGSEGV and not result.memory_exceeded
