"""Soft time limits for expensive sympy steps (SIGALRM on the main thread; the worker pool kills the rest)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rlvr.errors import RlvrError


class StepTimeout(RlvrError):
    """An expensive step ran past its own soft limit (the caller falls back to a cheaper check)."""


class DeadlineExceeded(RlvrError):
    """An enclosing limit expired inside a nested step: the whole check is out of time."""


def _raise_timeout(signum: int, frame: object) -> None:
    raise StepTimeout("soft time limit reached")


def can_interrupt() -> bool:
    """Whether `time_limit` can interrupt work here (signals only reach the main thread)."""
    return threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise StepTimeout inside the block after `seconds` of wall time.

    Nests: an inner limit longer than an enclosing one is a no-op, and the enclosing limit is re-armed
    on exit. Off the main thread it does nothing (the pool's hard deadline still applies).
    """
    if seconds <= 0 or not can_interrupt():
        yield
        return
    now = time.monotonic()
    outer_remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    outer_deadline = now + outer_remaining if outer_remaining > 0 else None
    if outer_deadline is not None and outer_deadline <= now + seconds:
        try:
            yield
        except StepTimeout as exc:  # the enclosing limit fired; callers must not treat it as ours
            raise DeadlineExceeded(str(exc)) from exc
        return
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_deadline is not None:
            signal.setitimer(signal.ITIMER_REAL, max(outer_deadline - time.monotonic(), 0.001))
