"""`run_many` batches stdins into one sandbox start without letting the runs affect one another."""

from __future__ import annotations

import pytest

from rlvr.sandbox import Limits
from rlvr.sandbox.process.backend import BATCH_SIZE, ProcessBackend

from .conftest import FAST, PYTHON

pytestmark = pytest.mark.sandbox

PROBE = """
import os, sys, time
what = sys.stdin.read().strip()
print(sorted(os.listdir('.')), sorted(p for p in os.listdir('/proc') if p.isdigit()).__len__())
open('left-by-' + what, 'w').write('x')
if what == 'daemon':
    if os.fork() == 0:
        os.setsid(); time.sleep(60)
elif what == 'sleep':
    time.sleep(60)
elif what == 'flood':
    while True: print('y' * 1000)
elif what == 'memory':
    hog = bytearray(1 << 30)
elif what == 'kill-driver':
    for pid in os.listdir('/proc'):
        if pid.isdigit() and int(pid) not in (1, os.getpid()):
            os.kill(int(pid), 9)
print('done', what)
"""


def batch(backend: ProcessBackend, stdins: list[bytes], limits: Limits = FAST) -> list:
    return backend.run_many([PYTHON, "-c", PROBE], files={"given.txt": b"1"}, stdins=stdins, limits=limits)


def test_each_batched_run_sees_only_its_own_files_and_processes(backend: ProcessBackend) -> None:
    results = batch(backend, [b"a", b"daemon", b"b"])
    assert all(r.ok for r in results)
    # The work dir is restored each time; besides the program only our own processes exist (the
    # driver, as pid 1, under bwrap; an init and the driver under unshare).
    seen = f"['given.txt'] {backend.launcher.own_processes + 1}".encode()
    assert [r.stdout.splitlines()[0] for r in results] == [seen] * 3
    assert [r.stdout.splitlines()[1] for r in results] == [b"done a", b"done daemon", b"done b"]


def test_a_failing_run_does_not_spill_into_the_next(backend: ProcessBackend) -> None:
    limits = Limits(**{**FAST.__dict__, "output_bytes": 4096, "wall_seconds": 1.0})
    sleep, ok1, flood, ok2, memory, ok3 = batch(
        backend, [b"sleep", b"a", b"flood", b"b", b"memory", b"c"], limits
    )
    assert sleep.timed_out and not sleep.ok
    assert flood.output_exceeded and len(flood.stdout) == 4096 and not flood.timed_out
    assert memory.memory_exceeded
    assert all(r.ok and r.stdout.endswith(b"\n") for r in (ok1, ok2, ok3))


def test_killing_the_driver_only_costs_time(backend: ProcessBackend) -> None:
    results = batch(backend, [b"a", b"kill-driver", b"b", b"c"])
    # Under bwrap the driver is pid 1, which nothing in its namespace can signal. Under unshare the
    # killer's run is redone alone, where it kills that sandbox's driver too: that run alone is
    # judged killed (its own output races the sandbox's end); every other run is unaffected.
    killable = backend.launcher.own_processes > 1
    assert [r.ok for r in results] == [True, not killable, True, True]
    survivors = [r for r in results if r.ok]
    assert [r.stdout.splitlines()[-1] for r in survivors] == [
        b"done " + name
        for name in (b"a", b"kill-driver", b"b", b"c")
        if not (killable and name == b"kill-driver")
    ]


def test_more_stdins_than_a_batch_all_come_back_in_order(backend: ProcessBackend) -> None:
    stdins = [str(i).encode() for i in range(BATCH_SIZE + 3)]
    results = backend.run_many(["/bin/cat"], stdins=stdins, limits=FAST)
    assert [r.stdout for r in results] == stdins
