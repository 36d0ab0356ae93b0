"""The reward service: verifier registry, the `verify` core, the worker pool, the gRPC server and its clients."""

from rlvr.verifier_server.engine.core import verify, verify_batch
from rlvr.verifier_server.engine.errors import InvalidRequest, RlvrError, UnknownVerifier
from rlvr.verifier_server.engine.outcome import Outcome
from rlvr.verifier_server.engine.registry import (
    GroupVerifier,
    Verifier,
    list_verifiers,
    register,
    register_spec,
)

__all__ = [
    "AsyncClient",
    "Client",
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

_CLIENT_NAMES = ("AsyncClient", "Client", "RetryPolicy")


def __getattr__(name: str) -> object:
    # The clients import grpc; load them only when asked for (`rlvr.verifier_server.Client`).
    if name in _CLIENT_NAMES:
        from rlvr.verifier_server.service import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
