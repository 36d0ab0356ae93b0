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
    processes comes from `flock` on one lock file per uid, so a crashed holder frees its slot, and
    pools with overlapping ranges still never share a uid.
    """

    def __init__(
        self, uid_base: int = DEFAULT_UID_BASE, count: int = DEFAULT_SLOTS, lock_dir: str | None = None
    ):
        self.uid_base = uid_base
        self.count = count
        self.lock_dir = lock_dir or os.path.join(tempfile.gettempdir(), f"rlvr-sandbox-slots-{os.getuid()}")
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)

    def _try_lock(self, uid: int) -> int | None:
        fd = os.open(os.path.join(self.lock_dir, f"uid-{uid}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @contextlib.contextmanager
    def idle(self) -> Iterator[set[int]]:
        """Yield the uids no run holds right now, keeping them held for the block.

        A live process owned by one of these uids outlived its run: this is the leak check.
        """
        held = {uid: self._try_lock(uid) for uid in range(self.uid_base, self.uid_base + self.count)}
        try:
            yield {uid for uid, fd in held.items() if fd is not None}
        finally:
            for fd in held.values():
                if fd is not None:
                    os.close(fd)

    @contextlib.contextmanager
    def acquire(self, poll_seconds: float = 0.005) -> Iterator[int]:
        """Yield a free uid, held exclusively until the block exits; waits while all are busy."""
        start = hash((os.getpid(), time.monotonic_ns())) % self.count  # spread contenders over slots
        while True:
            for i in range(self.count):
                uid = self.uid_base + (start + i) % self.count
                fd = self._try_lock(uid)
                if fd is None:
                    continue
                try:
                    yield uid
                finally:
                    os.close(fd)  # closing the only descriptor releases the lock
                return
            time.sleep(poll_seconds)
