"""The heuristic deciding that a failed run died of its memory limit rather than a plain bug."""

from __future__ import annotations

import re
import signal

from rlvr.sandbox.limits import Limits, RunResult

# What common runtimes print when an allocation fails under RLIMIT_AS: CPython, libstdc++, glibc's
# malloc checks and perror(ENOMEM), bash, and gcc/cc1 ("virtual memory exhausted").
_OOM_TEXT = re.compile(
    rb"MemoryError|std::bad_alloc|Cannot allocate memory|out of memory|memory exhausted|"
    rb"xmalloc: cannot allocate|failed to map segment from shared object"
)
_FATAL_SIGNALS = (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS)
NEAR_LIMIT = 0.8  # peak RSS at or above this fraction of the limit counts as "ran into it"


def looks_out_of_memory(result: RunResult, peak_rss_bytes: int, limits: Limits) -> bool:
    """True when a run that did not exit 0 most likely failed on its memory limit.

    Best effort, since rlimits make an allocation fail rather than report anything: either the
    runtime said so on stderr (`_OOM_TEXT`, matched in the last 4 KiB), or the program died of
    SIGKILL/SIGSEGV/SIGABRT/SIGBUS with a peak resident size of at least 80% of `memory_mb`. A C
    program that dereferences the NULL of one huge failed malloc stays a runtime error.
    """
    if result.exit_code == 0:
        return False
    if _OOM_TEXT.search(result.stderr[-4096:]):
        return True
    return result.signal in _FATAL_SIGNALS and peak_rss_bytes >= NEAR_LIMIT * limits.memory_mb * (1 << 20)
