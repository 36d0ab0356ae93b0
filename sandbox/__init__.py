"""Sandboxed execution of untrusted code with hard limits; outputs are judged on the host."""

from __future__ import annotations

import threading

from rlvr.errors import RlvrError
from rlvr.sandbox.backend import Backend, SandboxUnavailable
from rlvr.sandbox.judge.runner import InvalidTests, TestVerdict, run_tests
from rlvr.sandbox.languages import LANGUAGES, Language, UnknownLanguage, get_language
from rlvr.sandbox.limits import InvalidLimits, Limits, RunResult
from rlvr.sandbox.program import ProgramResult, compile_limits, run

__all__ = [
    "LANGUAGES",
    "Backend",
    "InvalidLimits",
    "InvalidTests",
    "Language",
    "Limits",
    "ProgramResult",
    "RunResult",
    "SandboxUnavailable",
    "TestVerdict",
    "UnknownLanguage",
    "compile_limits",
    "get_backend",
    "get_language",
    "run",
    "run_tests",
]

BACKENDS = ("process", "docker")
_backends: dict[str, Backend] = {}
_lock = threading.Lock()


class UnknownBackend(RlvrError, ValueError):
    """A backend name that is neither "process" nor "docker"."""


def get_backend(name: str = "process") -> Backend:
    """The shared instance of backend `name` ("process" or "docker"), created on first use.

    Raises UnknownBackend for other names. Availability is checked by `Backend.check()`, not here.
    """
    with _lock:
        if name not in _backends:
            if name == "process":
                from rlvr.sandbox.process.backend import ProcessBackend

                _backends[name] = ProcessBackend()
            elif name == "docker":
                from rlvr.sandbox.docker.backend import DockerBackend

                _backends[name] = DockerBackend()
            else:
                raise UnknownBackend(f"unknown sandbox backend {name!r}; use one of {BACKENDS}")
        return _backends[name]
