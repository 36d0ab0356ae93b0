"""Exclusive per-run sandbox uids ("slots"), shared safely by every process on the machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator

DEFAULT_UID_BASE = 60000
DEFAULT_SLOTS = 64


class SlotPool:
    """Hands out uids `uid_base .. uid_base + count - 1`, one run at a time each.

    A distinct uid per concurrent run is what makes RLIMIT_NPROC a per-run limit (the kernel counts
    processes per uid) and keeps runs from signalling one another. Exclusivity across threads and
    processes comes from `flock` on one lock file per slot, so a crashed holder frees its slot.
    """

    def __init__(
        self, uid_base: int = DEFAULT_UID_BASE, count: int = DEFAULT_SLOTS, lock_dir: str | None = None
    ):
        self.uid_base = uid_base
        self.count = count
        self.lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), f"rlvr-sandbox-slots-{os.getuid()}")
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)

    @contextlib.contextmanager
    def acquire(self, poll_seconds: float = 0.005) -> Iterator[int]:
        """Yield a free uid, held exclusively until the block exits; waits while all are busy."""
        start = hash((os.getpid(), time.monotonic_ns())) % self.count  # spread contenders over slots
        while True:
            for i in range(self.count):
                slot = (start + i) % self.count
                fd = os.open(os.path.join(self.lock_dir, f"slot-{slot}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    yield self.uid_base + slot
                finally:
                    os.close(fd)  # closing the only descriptor releases the lock
                return
            time.sleep(poll_seconds)
