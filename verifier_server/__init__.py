"""The reward service: verifier registry, the `verify` core, the worker pool, and (later) the gRPC server."""

from rlvr.verifier_server.core import verify, verify_batch
from rlvr.verifier_server.errors import InvalidRequest, RlvrError, UnknownVerifier
from rlvr.verifier_server.outcome import Outcome
from rlvr.verifier_server.registry import GroupVerifier, Verifier, list_verifiers, register, register_spec

__all__ = [
    "GroupVerifier",
    "InvalidRequest",
    "Outcome",
    "RlvrError",
    "UnknownVerifier",
    "Verifier",
    "list_verifiers",
    "register",
    "register_spec",
    "verify",
    "verify_batch",
]
