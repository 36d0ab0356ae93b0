"""Pid 1 of the `unshare` fallback sandbox: builds the same file system view bwrap would, then runs the command.

Runs as `python3 -I -S -c <this source> SPEC_FD` as root of a fresh user namespace (mapped to the
run's unprivileged host uid) that also owns fresh mount, pid, net, ipc, uts and cgroup namespaces,
created by util-linux `unshare`. The spec (marshal) holds the binds, the work-dir size, the
environment, the seccomp program, the status fd and the command. It writes bwrap-compatible `--json-status-fd` documents: `child-pid` (its host pid) first, `exit-code` last.
Before the command runs it drops the capability bounding set, sets no_new_privs and loads the
seccomp filter; it makes itself non-dumpable so the command cannot patch it through /proc.
"""

import ctypes
import marshal
import os
import signal
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 4, 24, 38, 22
SECCOMP_MODE_FILTER = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}[os.uname().machine]
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
libc = ctypes.CDLL(None, use_errno=True)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source, target, fstype, flags, data=None):
    def b(s):
        return None if s is None else s.encode()

    check(libc.mount(b(source), b(target), b(fstype), ctypes.c_ulong(flags), b(data)), f"mount {target}")


def bind(source, target, readonly):
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:
        # Flags the source mount has (nosuid, nodev, noexec) are locked in a user namespace: keep them.
        locked = os.statvfs(source).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | locked)


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            os.close(fd)
            return b"".join(chunks)
        chunks.append(chunk)


def build_root(spec, root):
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for kind, source, target in spec["binds"]:
        if kind == "symlink":
            os.symlink(source, root + target)
        elif os.path.exists(source):
            bind(source, root + target, readonly=True)
    os.mkdir(root + "/dev")
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID, "size=64k,mode=0755")
    for name in DEVICES:
        bind("/dev/" + name, root + "/dev/" + name, readonly=False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
    ):
        os.symlink(target, root + "/dev/" + name)
    os.symlink("/proc/self/fd/2", root + "/dev/stderr")
    os.mkdir(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    workdir = root + spec["workdir"]
    os.mkdir(workdir)
    mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"size={spec['workdir_bytes']},mode=0755")
    os.symlink(spec["workdir"], root + "/tmp")
    os.mkdir(root + "/.old")
    check(libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    check(libc.umount2(b"/.old", MNT_DETACH), "umount /.old")
    os.rmdir("/.old")
    mount(None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID)
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def run_command(spec, seccomp):
    os.setsid()
    os.chdir(spec["workdir"])
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    prog = SockFprog(len(seccomp) // 8, seccomp)
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")
    command = spec["command"]
    os.execvpe(command[0], command, spec["env"])


def main():
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # pid 1 ignores signals it has no handler for
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    spec = marshal.loads(read_all(int(sys.argv[1])))
    status = spec["status_fd"]
    host_pid = int(os.readlink("/proc/self"))  # still the host's /proc: its pid numbers are the host's
    os.write(status, b'{ "child-pid": %d }\n' % host_pid)
    seccomp = read_all(spec["seccomp_fd"])
    try:
        build_root(spec, "/tmp")
        socket_hostname = b"sandbox"
        check(libc.sethostname(socket_hostname, len(socket_hostname)), "sethostname")
        for cap in range(64):
            libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    except OSError as e:
        os.write(2, f"rlvr unshare sandbox setup failed: {e}\n".encode())
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        os.close(status)
        try:
            run_command(spec, seccomp)
        except OSError as e:
            os.write(2, f"cannot run {spec['command'][0]}: {e}\n".encode())
        os._exit(127)
    while True:  # as pid 1, reap every orphan until the command itself is done
        done, wait_status = os.waitpid(-1, 0)
        if done == pid:
            break
    code = os.waitstatus_to_exitcode(wait_status)
    code = 128 - code if code < 0 else code
    os.write(status, b'{ "exit-code": %d }\n' % code)
    os._exit(code)


main()
