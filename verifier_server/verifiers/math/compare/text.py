"""Comparing text answers (names, yes/no, choice letters) as normalised lowercase letters and digits."""

from __future__ import annotations

import re
from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.context import ComparisonContext
from rlvr.verifier_server.verifiers.math.compare.decision import Decision, mismatch
from rlvr.verifier_server.verifiers.math.values import Text


class TextComparison(ComparisonContext):
    """Text against text, a name or an integer."""

    def texts(self, ref: Any, cand: Any) -> Decision:
        ref_text, cand_text = _as_text(ref), _as_text(cand)
        if ref_text is None or cand_text is None:
            return mismatch(ref, cand)
        return Decision(ref_text == cand_text, "same text" if ref_text == cand_text else "different text")


def _as_text(value: Any) -> str | None:
    if isinstance(value, Text):
        return re.sub(r"[^a-z0-9]+", "", value.text.lower())
    if isinstance(value, sympy.Symbol):
        return re.sub(r"[^a-z0-9]+", "", value.name.lower())
    if isinstance(value, sympy.Integer):
        return str(value)
    return None
