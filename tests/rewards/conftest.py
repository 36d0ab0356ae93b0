"""Shared helpers for the reward tests."""

from __future__ import annotations

import pytest

from rlvr.verifier_server.engine import registry
from rlvr.verifier_server.engine.errors import UnknownVerifier

WELL_FORMED = "<think>reasoning</think><answer>4</answer>"


def has_math() -> bool:
    registry.get_spec("r1_math")  # loads the built-in verifiers
    try:
        registry.get_verifier("math")
    except UnknownVerifier:
        return False
    return True


needs_math = pytest.mark.skipif(not has_math(), reason="the math verifier has not landed yet")
