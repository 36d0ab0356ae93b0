"""rlvr: reinforcement learning with verifiable rewards.

`rlvr.verify(request)` and `rlvr.verify_batch(requests)` score completions with the same core the
gRPC service, the CLI and the envs use. Requests are `VerifyRequest` messages or their dict / JSON form.
"""

from rlvr.verifier.v1.verifier_pb2 import (
    RewardSpec,
    RewardTerm,
    Status,
    Verdict,
    VerifyRequest,
    VerifyResponse,
)
from rlvr.verifier_server import InvalidRequest, list_verifiers, verify, verify_batch
from rlvr.verifier_server.engine.errors import RlvrError
from rlvr.verifier_server.engine.specs import Spec, Term, dump_spec, load_spec
from rlvr.version import __version__

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
