"""The payload protocol behind the gateway's `POST /get_reward`, supplied by the adapter that owns its shape.

The service does not know trainer payloads: `rlvr.integrations.openrlhf` installs OpenRLHF's on import
(`rlvr serve` imports it), so the dependency points from the adapter to the service, not back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from rlvr.verifier.v1 import verifier_pb2 as pb


class RewardProtocol(Protocol):
    """Turns one trainer payload into VerifyRequests and their responses into the trainer's answer."""

    def requests(self, payload: Any) -> list[pb.VerifyRequest]: ...

    def answer(self, responses: Sequence[pb.VerifyResponse]) -> dict[str, Any]: ...


#: URL query of a `/get_reward` call → the protocol that reads its body (raises ValueError when bad).
ProtocolFactory = Callable[[Mapping[str, str]], RewardProtocol]

_factory: ProtocolFactory | None = None


def install(factory: ProtocolFactory) -> None:
    """Make `factory` build the `/get_reward` protocol (a later call replaces it)."""
    global _factory
    _factory = factory


def installed() -> ProtocolFactory | None:
    """The installed factory, or None when no adapter has installed one."""
    return _factory
