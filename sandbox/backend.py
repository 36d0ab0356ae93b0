"""The `Backend` interface every sandbox implementation provides."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from rlvr.errors import RlvrError
from rlvr.sandbox.limits import Limits, RunResult


class SandboxUnavailable(RlvrError, RuntimeError):
    """The backend cannot isolate anything on this machine (missing bubblewrap, no Docker engine...)."""


class Backend(ABC):
    """Runs one command in a fresh, isolated, resource-limited environment.

    Every run gets: no network; private pid/ipc/mount/uts namespaces; a read-only view of the system;
    a fresh size-capped tmpfs work dir as cwd, holding `files`; an allowlisted environment; no
    controlling terminal; and nothing of it left running afterwards.
    """

    name: str

    @abstractmethod
    def check(self) -> None:
        """Raise SandboxUnavailable, saying how to fix it, when this backend cannot run here."""

    @abstractmethod
    def run(
        self,
        command: list[str],
        *,
        files: Mapping[str, bytes] | None = None,
        stdin: bytes = b"",
        limits: Limits = Limits(),
        collect: Sequence[str] = (),
    ) -> RunResult:
        """Run `command` (argv; resolved inside the sandbox) with `stdin`, under `limits`.

        `files` maps relative paths in the work dir to their contents, written (mode 0755) before
        the run. `collect` names work-dir files to read back afterwards into `RunResult.files`
        (e.g. a compiled binary; each at most `limits.file_size_mb`). Never raises for anything the
        program does: failures of the sandbox itself come back as `RunResult.sandbox_error`.
        """

    def run_many(
        self,
        command: list[str],
        *,
        files: Mapping[str, bytes] | None = None,
        stdins: Sequence[bytes],
        limits: Limits = Limits(),
    ) -> list[RunResult]:
        """Run `command` once per stdin, each run under `limits`; one result per stdin, in order.

        Backends may run them all inside one sandbox start to amortise its cost; this default
        starts one sandbox per run.
        """
        return [self.run(command, files=files, stdin=stdin, limits=limits) for stdin in stdins]
