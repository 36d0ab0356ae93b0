"""Verifier clients: where an env sends its VerifyRequests (in-process by default, or a gRPC server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from rlvr.errors import RlvrError
from rlvr.verifier.v1 import verifier_pb2 as pb

GRPC_SCHEME = "grpc://"


class VerifierTargetError(RlvrError, ValueError):
    """The `verifier` argument of an env names no client this library knows how to build."""

    def __init__(self, value: object):
        super().__init__(
            f"unknown verifier target {value!r}: pass None or 'local' (in-process), "
            f"'grpc://host:port' (a running `rlvr serve`), or an object with a verify_batch(requests) method"
        )
        self.value = value


@runtime_checkable
class VerifierClient(Protocol):
    """Anything that scores a batch: one VerifyResponse per request, in request order."""

    def verify_batch(self, requests: Sequence[pb.VerifyRequest]) -> list[pb.VerifyResponse]: ...


class InProcessVerifier:
    """Scores with `rlvr.verify_batch` in this process (isolated verifiers use its worker pool)."""

    def verify_batch(self, requests: Sequence[pb.VerifyRequest]) -> list[pb.VerifyResponse]:
        from rlvr.verifier_server.engine.core import verify_batch

        return verify_batch(requests)

    def __repr__(self) -> str:
        return "InProcessVerifier()"


class RemoteVerifier:
    """Scores through a gRPC verifier service (`rlvr serve`) at `target`: "host:port", or several
    comma-separated replicas ("h1:p,h2:p", round-robin). `client_options` go to
    `rlvr.verifier_server.service.client.Client` (token, tls, timeout...). A failed call raises `grpc.RpcError`:
    an unreachable server is an error, never a zero reward.

    The connection is opened on first use, so an env can be built (and pickled to a worker)
    before the server is up.
    """

    def __init__(self, target: str, **client_options: Any):
        self.target = target
        self.client_options = client_options
        self._client: Any = None

    def verify_batch(self, requests: Sequence[pb.VerifyRequest]) -> list[pb.VerifyResponse]:
        if self._client is None:
            from rlvr.verifier_server.service.client import Client

            targets = [t.strip() for t in self.target.split(",") if t.strip()]
            self._client = Client(targets if len(targets) > 1 else targets[0], **self.client_options)
        return list(self._client.verify_batch(list(requests)))

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            client.close()

    def __getstate__(self) -> dict:
        return {"target": self.target, "client_options": self.client_options, "_client": None}

    def __repr__(self) -> str:
        return f"RemoteVerifier({self.target!r})"


def make_verifier(verifier: str | VerifierClient | None) -> VerifierClient:
    """The client an env's `verifier` argument names: None/"local" → in-process, "grpc://h:p" → remote."""
    if verifier is None or verifier in ("local", "in-process", "inprocess"):
        return InProcessVerifier()
    if isinstance(verifier, str):
        if verifier.startswith(GRPC_SCHEME) and len(verifier) > len(GRPC_SCHEME):
            return RemoteVerifier(verifier[len(GRPC_SCHEME) :])
        raise VerifierTargetError(verifier)
    if isinstance(verifier, VerifierClient):
        return verifier
    raise VerifierTargetError(verifier)
