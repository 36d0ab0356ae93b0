"""In-sandbox driver of the process backend: waits for one job, then runs its command once per stdin.

Runs as `python3 -I -S -c <this source> HANDOFF_FD` inside a sandbox started ahead of demand (the
system Python 3, stdlib only, so it imports nothing of rlvr). It makes itself non-dumpable (so the
program, same uid, cannot read or patch its memory or fds through /proc) and a child subreaper,
writes one byte to the handoff socket to say it is ready, and blocks until the host sends the job:
one message whose SCM_RIGHTS fds are [manifest, control, per-run stdout and stderr pipes, collect
pipes]. The manifest (marshal) holds the command, the work-dir files, the rlimits, the wall limit,
per run its stdin and the indexes of its pipes, and the indexes of the collect pipes.

Per run it restores the work dir, forks the command under the rlimits with its own pipes, enforces
the wall limit, kills every other process left in the sandbox, reaps them and writes one line to
the control pipe: `index exit_code signal cpu_seconds wall_seconds peak_rss_bytes timed_out`.
After the last run it writes each collected file to its pipe as b"1" + its bytes (nothing when it
is missing), then exits, which ends the sandbox.
"""

import _socket
import ctypes
import marshal
import os
import resource
import select
import signal
import stat
import sys
import time

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
MAX_FDS = 253  # the kernel's SCM_MAX_FD


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def receive_job(handoff_fd):
    """Say we are ready, then wait for the job: the manifest and the fds it refers to by index."""
    sock = _socket.socket(fileno=handoff_fd)
    sock.send(b"R")
    _, ancillary, _, _ = sock.recvmsg(1, _socket.CMSG_SPACE(MAX_FDS * 4))
    fds = []  # (struct array is not imported: it costs more start-up time than this loop)
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            for at in range(0, len(data) - len(data) % 4, 4):
                fds.append(int.from_bytes(data[at : at + 4], sys.byteorder, signed=True))
    sock.close()
    if not fds:
        sys.exit("no job arrived")  # the host gave up on this sandbox
    manifest = marshal.loads(read_all(fds[0]))
    os.close(fds[0])
    return manifest, fds


def reset_workdir(workdir, files):
    os.chmod(workdir, 0o755)
    for root, dirs, names in os.walk(workdir, topdown=False):
        for name in names:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            path = os.path.join(root, name)
            if os.path.islink(path):
                os.unlink(path)
            else:
                os.rmdir(path)
    for path, data in files.items():
        full = os.path.join(workdir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.close(fd)


def child(command, stdin_fd, out_fd, err_fd, limits):
    os.dup2(stdin_fd, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.closerange(3, 1 << 16)
    os.setsid()
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # Python ignores these; exec keeps that
        signal.signal(sig, signal.SIG_DFL)
    for name, (soft, hard) in limits.items():
        resource.setrlimit(getattr(resource, name), (soft, hard))
    try:
        os.execvp(command[0], command)
    except OSError as e:
        os.write(2, f"cannot run {command[0]}: {e}\n".encode())
    os._exit(127)


def kill_and_reap_all():
    """SIGKILL every process of the run (all but us and pid 1) and reap them; return their rusage sum."""
    cpu, peak = 0.0, 0
    try:  # noqa: SIM105 -- contextlib would cost import time in every sandbox
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    while True:
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return cpu, peak
        cpu += usage.ru_utime + usage.ru_stime
        peak = max(peak, usage.ru_maxrss)


def run_once(index, run, manifest, fds, control):
    reset_workdir(manifest["workdir"], manifest["files"])
    stdin_fd = os.memfd_create("stdin")
    os.write(stdin_fd, run["stdin"])
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    out_fd, err_fd = fds[run["stdout"]], fds[run["stderr"]]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        child(manifest["command"], stdin_fd, out_fd, err_fd, manifest["limits"])
    os.close(stdin_fd)
    os.close(out_fd)  # the host sees EOF once every process of this run is gone
    os.close(err_fd)
    pidfd = os.pidfd_open(pid)
    timed_out = not select.select([pidfd], [], [], manifest["wall_seconds"])[0]
    os.close(pidfd)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - start
    cpu, peak = kill_and_reap_all()
    cpu += usage.ru_utime + usage.ru_stime
    peak = max(peak, usage.ru_maxrss) * 1024
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    os.write(control, f"{index} {code} {sig} {cpu:.6f} {wall:.6f} {peak} {int(timed_out)}\n".encode())


def send_file(path, fd):
    """b"1" + the bytes of work-dir file `path` to pipe `fd` (nothing if it is not a regular file)."""
    try:
        src = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            return
        os.write(fd, b"1")
        while chunk := os.read(src, 1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
    except BrokenPipeError:  # the host stopped reading at the file-size cap
        pass
    finally:
        os.close(src)


def main():
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    manifest, fds = receive_job(int(sys.argv[1]))
    control = fds[manifest["control"]]
    for index, run in enumerate(manifest["runs"]):
        run_once(index, run, manifest, fds, control)
    for path, at in manifest["collect"].items():
        send_file(os.path.join(manifest["workdir"], path), fds[at])
        os.close(fds[at])
    os.close(control)


main()
