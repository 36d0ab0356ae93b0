"""The seccomp filter is well formed for every supported machine and does what its docstring says."""

from __future__ import annotations

import struct

import pytest

from rlvr.sandbox.process.seccomp import UnsupportedArchitecture, build_filter, supported_machines

from .conftest import CTYPES_PRELUDE


@pytest.mark.parametrize("machine", supported_machines())
def test_filter_is_a_whole_number_of_instructions_starting_with_the_arch_check(machine: str) -> None:
    program = build_filter(machine)
    assert len(program) % 8 == 0 and 0 < len(program) // 8 < 4096  # BPF_MAXINSNS
    code, _, _, offset = struct.unpack("=HBBI", program[:8])
    assert (code, offset) == (0x20, 4)  # load seccomp_data.arch first
    code, _, _, _ = struct.unpack("=HBBI", program[-8:])
    assert code == 0x06  # every path ends in a return


def test_unknown_machines_are_refused_with_the_supported_list() -> None:
    with pytest.raises(UnsupportedArchitecture, match="sparc64.*x86_64"):
        build_filter("sparc64")


@pytest.mark.sandbox
def test_clone3_reports_enosys_so_libc_falls_back(py) -> None:
    result = py(CTYPES_PRELUDE + "print(libc.syscall(435, 0, 0), ctypes.get_errno())")
    assert result.stdout == b"-1 38\n"


@pytest.mark.sandbox
def test_tiocsti_is_refused_before_the_tty_check(py) -> None:
    # Without the filter this would be ENOTTY (stdin is not a terminal); EPERM proves the filter ran.
    result = py(CTYPES_PRELUDE + "print(libc.ioctl(0, 0x5412, ctypes.c_char_p(b'x')), ctypes.get_errno())")
    assert result.stdout == b"-1 1\n"


@pytest.mark.sandbox
def test_ordinary_threads_and_subprocesses_still_work(py) -> None:
    code = (
        "import threading, subprocess\n"
        "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
        "print(subprocess.run(['/bin/echo', 'child'], capture_output=True).stdout.decode().strip())"
    )
    assert py(code).stdout == b"thread\nchild\n"
