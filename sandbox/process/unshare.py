"""The fallback sandbox launcher when bubblewrap is missing: util-linux `unshare` plus our own pid-1 setup."""

from __future__ import annotations

import marshal
import os
from collections.abc import Sequence
from dataclasses import dataclass

from rlvr.sandbox import drivers
from rlvr.sandbox.process.bwrap import MIB, SANDBOX_ENV, SYSTEM_PYTHON, WORKDIR, memfd

_INIT = drivers.source("unshare_init")


@dataclass(frozen=True)
class Unshare:
    """Starts sandboxes with `unshare` (new user, mount, pid, net, ipc, uts, cgroup namespaces).

    The file system view, environment, seccomp filter and status documents match `Bwrap`'s; the
    setup inside is `unshare_init.py`, run by the system Python 3 as the namespace's pid 1. The
    command runs as root of its user namespace (mapped to the run's unprivileged host uid) with an
    empty capability bounding set and no_new_privs, so it holds no capability anywhere.
    """

    unshare: str
    setpriv: str
    binds: tuple[tuple[str, str, str], ...]  # ("ro-bind" | "symlink", source, target)
    name = "unshare"
    own_processes = 2  # in the sandbox, under the run's uid: our init (pid 1) and the driver

    def command(
        self,
        uid: int,
        workdir_mb: int,
        seccomp_fd: int,
        status_fd: int,
        payload: Sequence[str],
    ) -> tuple[list[str], list[int]]:
        """Same contract as `Bwrap.command`; the extra fd is the marshalled setup spec."""
        spec = {
            "binds": list(self.binds),
            "workdir": WORKDIR,
            "workdir_bytes": workdir_mb * MIB,
            "env": {**SANDBOX_ENV, "PWD": WORKDIR},
            "seccomp_fd": seccomp_fd,
            "status_fd": status_fd,
            "command": list(payload),
        }
        spec_fd = memfd(marshal.dumps(spec, 4), "spec")
        argv = []
        if os.geteuid() == 0:
            argv += [self.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        else:
            argv += [self.setpriv]
        argv += ["--pdeathsig", "KILL", "--", self.unshare, "--map-root-user", "--mount", "--pid", "--fork"]
        argv += ["--kill-child=SIGKILL", "--net", "--ipc", "--uts", "--cgroup", "--propagation", "private"]
        argv += ["--", SYSTEM_PYTHON, "-I", "-S", "-c", _INIT, str(spec_fd)]
        return argv, [spec_fd]


def unshare_binds() -> tuple[tuple[str, str, str], ...]:
    """The read-only system view, as (kind, source, target) triples: /usr, its top-level links, a minimal /etc."""
    binds: list[tuple[str, str, str]] = [("ro-bind", "/usr", "/usr")]
    for path in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(path):
            binds.append(("symlink", os.readlink(path), path))
        elif os.path.isdir(path):
            binds.append(("ro-bind", path, path))
    for path in (
        "/etc/ld.so.cache",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
        "/etc/alternatives",
        "/etc/localtime",
    ):
        binds.append(("ro-bind", path, path))
    return tuple(binds)
