"""A seccomp-BPF filter, built in pure Python, denying the syscalls a sandboxed program never needs."""

from __future__ import annotations

import errno
import platform
import struct

from rlvr.errors import RlvrError

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

# Offsets into struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6] (low words on little endian).
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24

# Any namespace flag on clone() would give the program a fresh namespace it could be root in.
_CLONE_NAMESPACE_FLAGS = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
_CLONE_NAMESPACE_FLAGS |= 0x20000000 | 0x40000000
_TIOCSTI = 0x5412  # pushes bytes into a terminal's input queue: a classic sandbox escape
_X32_SYSCALL_BIT = 0x40000000

# Denied outright with EPERM: tracing, mounting, namespaces, kernel keyrings, BPF, perf, io_uring
# (whose operations bypass seccomp), module and kexec loading, clock and swap changes, handle-based
# opens (an escape from bind mounts) and cross-process memory access.
_DENIED = [
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "swapon",
    "swapoff",
    "reboot",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "acct",
    "quotactl",
    "syslog",
    "vhangup",
]

_ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "ioctl": 16, "clone": 56, "clone3": 435, "uselib": 134, "iopl": 172, "ioperm": 173,
            "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "pidfd_getfd": 438,
            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "mount_setattr": 442,
            "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
            "unshare": 272, "setns": 308, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
            "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
            "finit_module": 313, "delete_module": 176, "open_by_handle_at": 304, "name_to_handle_at": 303,
            "lookup_dcookie": 212, "swapon": 167, "swapoff": 168, "reboot": 169, "settimeofday": 164,
            "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "acct": 163, "quotactl": 179,
            "syslog": 103, "vhangup": 153,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "ioctl": 29, "clone": 220, "clone3": 435,
            "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "pidfd_getfd": 438,
            "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "mount_setattr": 442,
            "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
            "unshare": 97, "setns": 268, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
            "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
            "finit_module": 273, "delete_module": 106, "open_by_handle_at": 265, "name_to_handle_at": 264,
            "lookup_dcookie": 18, "swapon": 224, "swapoff": 225, "reboot": 142, "settimeofday": 170,
            "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171, "acct": 89, "quotactl": 60,
            "syslog": 116, "vhangup": 58,
        },
    ),
}  # fmt: skip


class UnsupportedArchitecture(RlvrError, RuntimeError):
    """No syscall table for this CPU architecture, so no filter can be built."""


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def supported_machines() -> list[str]:
    """Machine names (`platform.machine()`) a filter can be built for."""
    return sorted(_ARCHES)


def build_filter(machine: str | None = None) -> bytes:
    """The raw `struct sock_filter[]` program, as bwrap's `--seccomp FD` expects it.

    Denied syscalls fail with EPERM (so programs see an ordinary error, not a crash); `clone` with any
    namespace flag fails with EPERM; `clone3` fails with ENOSYS, which makes libc fall back to `clone`
    (its flags live in memory a filter cannot read); `ioctl(TIOCSTI)` fails with EPERM; a foreign
    syscall ABI (e.g. x32, or i386 on x86_64) kills the process. Raises UnsupportedArchitecture.
    """
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        raise UnsupportedArchitecture(
            f"no seccomp syscall table for machine {machine!r}; supported: {supported_machines()}"
        )
    audit_arch, numbers = _ARCHES[machine]
    eperm = _RET_ERRNO | errno.EPERM
    prog = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, audit_arch, jt=1),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _NR),
    ]
    if machine == "x86_64":
        prog += [_insn(_JGE_K, _X32_SYSCALL_BIT, jf=1), _insn(_RET_K, _RET_KILL_PROCESS)]
    for name in _DENIED + ["uselib", "iopl", "ioperm"]:
        if name in numbers:
            prog += [_insn(_JEQ_K, numbers[name], jf=1), _insn(_RET_K, eperm)]
    prog += [_insn(_JEQ_K, numbers["clone3"], jf=1), _insn(_RET_K, _RET_ERRNO | errno.ENOSYS)]
    # The last two checks load an argument, so each ends in a return; the accumulator is not reused.
    prog += [
        _insn(_JEQ_K, numbers["ioctl"], jf=4),
        _insn(_LD_W_ABS, _ARG1),
        _insn(_JEQ_K, _TIOCSTI, jf=1),
        _insn(_RET_K, eperm),
        _insn(_RET_K, _RET_ALLOW),
        _insn(_JEQ_K, numbers["clone"], jf=4),
        _insn(_LD_W_ABS, _ARG0),
        _insn(_JSET_K, _CLONE_NAMESPACE_FLAGS, jf=1),
        _insn(_RET_K, eperm),
        _insn(_RET_K, _RET_ALLOW),
        _insn(_RET_K, _RET_ALLOW),
    ]
    return b"".join(prog)
