"""Comparing matrices element-wise; a row or column vector also matches a tuple."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.decision import Decision, mismatch
from rlvr.verifier_server.verifiers.math.compare.numbers import NumberComparison
from rlvr.verifier_server.verifiers.math.values import Seq


class MatrixComparison(NumberComparison):
    """Matrices and vectors."""

    def matrices(self, ref: Any, cand: Any) -> Decision:
        ref_items, cand_items = _matrix_items(ref), _matrix_items(cand)
        if ref_items is None or cand_items is None:
            return mismatch(ref, cand)
        if ref_items[0] != cand_items[0]:
            return Decision(False, f"matrix shapes differ: {cand_items[0]} vs {ref_items[0]}")
        for a, b in zip(ref_items[1], cand_items[1]):
            if not self.entries(a, b).match:
                return Decision(False, "matrix entries differ")
        return Decision(True, "matrix entries match")


def _matrix_items(value: Any) -> tuple[tuple[int, int], list[Any]] | None:
    if isinstance(value, sympy.MatrixBase):
        shape = value.shape
        if 1 in shape:
            return (max(shape), 1), list(value)
        return shape, list(value)
    if isinstance(value, Seq) and value.kind == "tuple":
        return (len(value.items), 1), list(value.items)
    return None
