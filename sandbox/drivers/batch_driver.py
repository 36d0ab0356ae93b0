"""In-sandbox driver of `ProcessBackend.run_many`: runs one command once per stdin, each run limited.

Runs as `python3 -I -S -c <this source> MANIFEST_FD CONTROL_FD` inside the sandbox (the system
Python 3, stdlib only, so it imports nothing of rlvr). The manifest (marshal) holds the command, the
work-dir files, the rlimits and, per run, its stdin and the fds of its own stdout/stderr pipes to
the host. Per run it restores the work dir, forks the command under the rlimits, enforces the wall
limit, kills every other process left in the sandbox, reaps them (it is a child subreaper) and
writes one line to CONTROL_FD: `index exit_code signal cpu_seconds wall_seconds peak_rss_bytes timed_out`.
It makes itself non-dumpable so the program (same uid) cannot read or patch its memory through /proc.
"""

import ctypes
import marshal
import os
import resource
import select
import signal
import sys
import time

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


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
    try:  # noqa: SIM105 -- contextlib would cost import time in every batch
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


def main():
    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    manifest = marshal.loads(read_all(int(sys.argv[1])))
    control = int(sys.argv[2])
    workdir = manifest["workdir"]
    for index, run in enumerate(manifest["runs"]):
        reset_workdir(workdir, manifest["files"])
        stdin_fd = os.memfd_create("stdin")
        os.write(stdin_fd, run["stdin"])
        os.lseek(stdin_fd, 0, os.SEEK_SET)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            child(manifest["command"], stdin_fd, run["stdout"], run["stderr"], manifest["limits"])
        os.close(stdin_fd)
        os.close(run["stdout"])  # the host sees EOF once every process of this run is gone
        os.close(run["stderr"])
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
        line = f"{index} {code} {sig} {cpu:.6f} {wall:.6f} {peak} {int(timed_out)}\n"
        os.write(control, line.encode())


main()
