"""rlvr: reinforcement learning with verifiable rewards.

`rlvr.verify(request)` and `rlvr.verify_batch(requests)` score completions with the same core the
gRPC service, the CLI and the envs use. Requests are `VerifyRequest` messages or their dict / JSON form.

The names below load on first use, so `import rlvr.sandbox` (or any other low layer) does not pull in
the reward library, YAML or gRPC.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rlvr.errors import RlvrError
from rlvr.version import __version__

if TYPE_CHECKING:
    from rlvr.verifier.v1.verifier_pb2 import (
        RewardSpec,
        RewardTerm,
        Status,
        Verdict,
        VerifyRequest,
        VerifyResponse,
    )
    from rlvr.verifier_server import InvalidRequest, list_verifiers, verify, verify_batch
    from rlvr.verifier_server.engine.specs import Spec, Term, dump_spec, load_spec

_LAZY = {
    **dict.fromkeys(
        ("RewardSpec", "RewardTerm", "Status", "Verdict", "VerifyRequest", "VerifyResponse"),
        "rlvr.verifier.v1.verifier_pb2",
    ),
    **dict.fromkeys(("InvalidRequest", "list_verifiers", "verify", "verify_batch"), "rlvr.verifier_server"),
    **dict.fromkeys(("Spec", "Term", "dump_spec", "load_spec"), "rlvr.verifier_server.engine.specs"),
}

__all__ = [
    "InvalidRequest",
    "RewardSpec",
    "RewardTerm",
    "RlvrError",
    "Spec",
    "Status",
    "Term",
    "Verdict",
    "VerifyRequest",
    "VerifyResponse",
    "__version__",
    "dump_spec",
    "list_verifiers",
    "load_spec",
    "verify",
    "verify_batch",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
