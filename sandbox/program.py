"""Compile-once, run-per-input execution of one program in one language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rlvr.sandbox.backend import Backend
from rlvr.sandbox.languages import get_language
from rlvr.sandbox.limits import Limits, RunResult

COMPILE_TIME_FACTOR = 5.0  # a compile may take this many times the run's CPU and wall time
COMPILE_MIN_MEMORY_MB = 1024  # cc1plus needs far more address space than the programs it builds
COMPILE_MIN_PROCESSES = 16  # gcc -> cc1 -> as -> collect2 -> ld


@dataclass
class ProgramResult:
    """The compile step (None for interpreted languages) and one run per stdin, in order.

    When the compile failed, `runs` is empty.
    """

    compile: RunResult | None
    runs: list[RunResult]

    @property
    def compile_failed(self) -> bool:
        """The compile step ran and did not succeed (its own errors, limits, or the sandbox)."""
        return self.compile is not None and not (self.compile.ok and self.compile.files)


def compile_limits(limits: Limits) -> Limits:
    """The limits of a compile step derived from the run limits: more time, memory and processes."""
    scaled = limits.scaled(COMPILE_TIME_FACTOR)
    return Limits(
        cpu_seconds=scaled.cpu_seconds,
        wall_seconds=scaled.wall_seconds,
        memory_mb=max(limits.memory_mb, COMPILE_MIN_MEMORY_MB),
        processes=max(limits.processes, COMPILE_MIN_PROCESSES),
        open_files=max(limits.open_files, 64),
        file_size_mb=max(limits.file_size_mb, 64),
        workdir_mb=max(limits.workdir_mb, 256),
        output_bytes=limits.output_bytes,
    )


def run(
    program: str,
    language: str,
    stdins: Sequence[bytes] = (b"",),
    *,
    limits: Limits = Limits(),
    backend: str | Backend = "process",
    files: Mapping[str, bytes] | None = None,
) -> ProgramResult:
    """Run `program` (source text) once per entry of `stdins`, each run under `limits`.

    Compiled languages are compiled once, inside the sandbox, under `compile_limits(limits)`; the
    binary is then run per stdin. `files` are extra work-dir files present at compile and run time.
    Raises UnknownLanguage, and SandboxUnavailable when `backend` cannot run here; everything the
    program does is reported in the results.
    """
    from rlvr.sandbox import get_backend  # the registry lives in the package root

    lang = get_language(language)
    chosen = get_backend(backend) if isinstance(backend, str) else backend
    chosen.check()
    workdir = dict(files or {})
    workdir[lang.source] = program.encode()
    compiled: RunResult | None = None
    if lang.compile is not None and lang.binary is not None:
        compiled = chosen.run(
            list(lang.compile), files=workdir, limits=compile_limits(limits), collect=(lang.binary,)
        )
        result = ProgramResult(compiled, [])
        if result.compile_failed:
            return result
        workdir = dict(files or {})
        workdir[lang.binary] = compiled.files[lang.binary]
    return ProgramResult(
        compiled, chosen.run_many(list(lang.run), files=workdir, stdins=stdins, limits=limits)
    )
