"""`Comparison`: every kind of comparison, and `equal`, which picks the one for two values."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.decision import Decision, mismatch
from rlvr.verifier_server.verifiers.math.compare.equations import RelationComparison
from rlvr.verifier_server.verifiers.math.compare.matrices import MatrixComparison
from rlvr.verifier_server.verifiers.math.compare.text import TextComparison
from rlvr.verifier_server.verifiers.math.relations import is_setlike
from rlvr.verifier_server.verifiers.math.values import Relation, Seq, Text


class Comparison(RelationComparison, MatrixComparison, TextComparison):
    """One comparison of a reference with an answer; each kind of value is compared by its module."""

    def equal(self, ref: Any, cand: Any) -> Decision:
        if isinstance(ref, Relation) or isinstance(cand, Relation):
            return self.relations(ref, cand)
        if isinstance(ref, sympy.MatrixBase) or isinstance(cand, sympy.MatrixBase):
            return self.matrices(ref, cand)
        if isinstance(ref, Seq) and isinstance(cand, Seq):
            return self.sequences(ref, cand)
        if is_setlike(ref) or is_setlike(cand):
            return self.sets(ref, cand)
        if isinstance(ref, Seq) or isinstance(cand, Seq):
            return self.sequences(ref, cand)
        if isinstance(ref, Text) or isinstance(cand, Text):
            return self.texts(ref, cand)
        if isinstance(ref, sympy.Expr) and isinstance(cand, sympy.Expr):
            return self.exprs(ref, cand)
        return mismatch(ref, cand)
