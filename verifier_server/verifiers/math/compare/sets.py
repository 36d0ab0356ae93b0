"""Comparing sets, intervals and unions: as sets, endpoints as numbers, openness exactly."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.decision import Decision, mismatch
from rlvr.verifier_server.verifiers.math.compare.numbers import NumberComparison
from rlvr.verifier_server.verifiers.math.relations import as_set, set_pieces


class SetComparison(NumberComparison):
    """Set-like values (intervals, unions, `\\{...\\}`, named sets, one-variable inequalities)."""

    def sets(self, ref: Any, cand: Any) -> Decision:
        ref_set, cand_set = as_set(ref), as_set(cand)
        if ref_set is None or cand_set is None:
            return mismatch(ref, cand)
        if ref_set == cand_set:
            return Decision(True, "same set" if not isinstance(ref_set, sympy.Interval) else "interval match")
        ref_pieces, cand_pieces = set_pieces(ref_set), set_pieces(cand_set)
        if ref_pieces is None or cand_pieces is None or len(ref_pieces) != len(cand_pieces):
            return Decision(False, "different sets")
        for (r_kind, r_val), (c_kind, c_val) in zip(ref_pieces, cand_pieces):
            if r_kind != c_kind:
                return Decision(False, "different sets")
            if r_kind == "point":
                if not self.entries(r_val, c_val).match:
                    return Decision(False, "different set elements")
            else:
                if (r_val.left_open, r_val.right_open) != (c_val.left_open, c_val.right_open):
                    return Decision(False, "interval endpoints differ in openness")
                for a, b in ((r_val.start, c_val.start), (r_val.end, c_val.end)):
                    if not self.entries(a, b).match:
                        return Decision(False, "different interval endpoints")
        return Decision(True, "interval match" if len(ref_pieces) == 1 else "same set (piecewise)")
