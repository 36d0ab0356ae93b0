"""Exclusive per-run sandbox uids ("slots"), shared safely by every process on the machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator

DEFAULT_UID_BASE = 60000
DEFAULT_SLOTS = 64
_BUSY = b"busy\n"


class SlotPool:
    """Hands out uids `uid_base .. uid_base + count - 1`, one run at a time each.

    A distinct uid per concurrent run is what makes RLIMIT_NPROC a per-run limit (the kernel counts
    processes per uid) and keeps runs from signalling one another. Exclusivity across threads and
    processes comes from `flock` on one lock file per uid, so a crashed holder frees its slot, and
    pools with overlapping ranges still never share a uid. A holder marks its lock file busy and
    clears it on a clean release; a slot found still marked busy was abandoned (its holder was
    killed, perhaps while a sandbox was starting), so every process of that uid is killed before the
    slot is used again (only possible as root, which is also the only case with slot uids).
    """

    def __init__(
        self, uid_base: int = DEFAULT_UID_BASE, count: int = DEFAULT_SLOTS, lock_dir: str | None = None
    ):
        self.uid_base = uid_base
        self.count = count
        self.lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), f"rlvr-sandbox-slots-{os.getuid()}")
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)

    def _try_lock(self, uid: int) -> int | None:
        """The locked fd of `uid`'s lock file (abandoned slots reclaimed first), or None if it is held."""
        fd = os.open(os.path.join(self.lock_dir, f"uid-{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        if os.pread(fd, len(_BUSY), 0) == _BUSY:
            reclaim(uid)
            os.ftruncate(fd, 0)
        return fd

    @contextlib.contextmanager
    def idle(self) -> Iterator[set[int]]:
        """Yield the uids no run holds right now (reclaimed if abandoned), keeping them held for the block.

        A live process owned by one of these uids outlived its run: this is the leak check.
        """
        held = {uid: self._try_lock(uid) for uid in range(self.uid_base, self.uid_base + self.count)}
        try:
            yield {uid for uid, fd in held.items() if fd is not None}
        finally:
            for fd in held.values():
                if fd is not None:
                    os.close(fd)

    def try_take(self) -> Slot | None:
        """A free uid, held exclusively until `Slot.release`, or None when all are busy."""
        # Lowest free slot first: a process keeps reusing the same few uids, whose per-slot state
        # (lock file, memory cgroup) is then already warm; busy slots cost one flock each.
        for i in range(self.count):
            uid = self.uid_base + i
            fd = self._try_lock(uid)
            if fd is not None:
                os.pwrite(fd, _BUSY, 0)
                return Slot(uid, fd)
        return None

    def take(self, poll_seconds: float = 0.005) -> Slot:
        """A free uid, held exclusively until `Slot.release`; waits while all are busy."""
        while (slot := self.try_take()) is None:
            time.sleep(poll_seconds)
        return slot

    @contextlib.contextmanager
    def acquire(self, poll_seconds: float = 0.005) -> Iterator[int]:
        """Yield a free uid, held exclusively until the block exits; waits while all are busy.

        A block that raises leaves the slot marked busy, so its next user reclaims it first.
        """
        slot = self.take(poll_seconds)
        clean = False
        try:
            yield slot.uid
            clean = True
        finally:
            slot.release(clean=clean)


class Slot:
    """One held uid of a `SlotPool`: released exactly once, marked clean only when nothing of it runs."""

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self._fd: int | None = fd

    def release(self, clean: bool = True) -> None:
        """Free the uid; `clean=False` leaves it marked busy, so its next user kills what it left."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if clean:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the only descriptor releases the lock


def reclaim(uid: int, timeout: float = 5.0) -> None:
    """SIGKILL every process whose uid is `uid` (as that uid: `kill -9 -1`) and wait until none is left."""
    if os.geteuid() != 0:
        return
    deadline = time.monotonic() + timeout
    while True:
        subprocess.run(["/bin/sh", "-c", "kill -9 -1"], user=uid, group=uid, extra_groups=[], check=False)
        if not _live_pids(uid) or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def _live_pids(uid: int) -> list[int]:
    """Pids of live (non-zombie) processes whose real uid is `uid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f if b":" in line)
        except OSError:
            continue
        if fields[b"State"].split()[0] != b"Z" and int(fields[b"Uid"].split()[0]) == uid:
            found.append(int(entry))
    return found
