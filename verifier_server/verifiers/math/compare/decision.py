"""`Decision`: a comparison's verdict and how it was reached; `mismatch` for values of different kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.values import IntervalValue, Relation, Seq, SetOp, Text


@dataclass(frozen=True)
class Decision:
    """Whether the answers match, and how that was decided ("exact rational equality", ...)."""

    match: bool
    how: str


def mismatch(ref: Any, cand: Any) -> Decision:
    """No match: the answer is another kind of value than the reference ("set vs value")."""
    return Decision(False, f"{_kind(cand)} vs {_kind(ref)}")


def _kind(value: Any) -> str:
    if isinstance(value, Seq):
        return f"{value.kind} of {len(value.items)}"
    if isinstance(value, sympy.MatrixBase):
        return "matrix"
    if isinstance(value, (IntervalValue, SetOp, sympy.Set)):
        return "set"
    if isinstance(value, Relation):
        return "relation"
    if isinstance(value, Text):
        return "text"
    return "value"
