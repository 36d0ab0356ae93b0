"""The `unshare` fallback launcher passes the same language, limit, batch and containment suites as bwrap.

The suites' test functions are imported here and run again with `backend` overridden to a
ProcessBackend that uses util-linux `unshare` instead of bubblewrap.
"""

from __future__ import annotations

import shutil

import pytest

from rlvr.sandbox import SandboxUnavailable
from rlvr.sandbox.process.backend import ProcessBackend

from .conftest import TEST_UID_BASE
from .test_batch import *  # noqa: F403
from .test_containment import *  # noqa: F403
from .test_containment import host_is_unharmed  # noqa: F401  (the autouse fixture, explicitly)
from .test_languages import *  # noqa: F403
from .test_limits import (  # noqa: F401
    test_cpu_limit_stops_a_busy_loop_and_is_reported_as_timeout,
    test_endless_output_is_capped_and_the_run_killed,
    test_file_size_limit_stops_a_large_write,
    test_memory_limit_is_reported_as_memory_exceeded,
    test_open_files_limit_caps_descriptors,
    test_process_limit_caps_concurrent_processes,
    test_wall_kill_takes_the_whole_process_tree,
    test_wall_limit_kills_a_sleeper,
    test_workdir_space_is_capped,
)


@pytest.fixture(scope="module")
def backend() -> ProcessBackend:
    if not shutil.which("unshare"):
        pytest.skip("util-linux unshare is not installed")
    chosen = ProcessBackend(uid_base=TEST_UID_BASE + 16, slots=16, launcher="unshare")
    try:
        chosen.check()
    except SandboxUnavailable as e:
        pytest.skip(f"unshare sandbox unavailable: {e}")
    return chosen
