"""Typed errors of the reward library (all derive from `rlvr.errors.RlvrError`)."""

from rlvr.errors import RlvrError

__all__ = ["InvalidRequest", "RlvrError", "UnknownVerifier"]


class InvalidRequest(RlvrError, ValueError):
    """The request is malformed: unknown verifier, missing field, bad option. Answered as INVALID_REQUEST."""


class UnknownVerifier(InvalidRequest):
    """No verifier is registered under the requested name."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown verifier {name!r}; registered verifiers: {', '.join(sorted(known))}")
        self.name = name
