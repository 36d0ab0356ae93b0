"""Comparing scalar expressions: exact, as numerals, as numbers, or symbolically (identity, points)."""

from __future__ import annotations

import sympy
from sympy.core.function import AppliedUndef

from rlvr.verifier_server.verifiers.math.compare.decision import Decision
from rlvr.verifier_server.verifiers.math.compare.numbers import NumberComparison, numeral
from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.numeric import (
    INFINITIES,
    agree_at_integer_points,
    agree_at_random_points,
    rational_identity,
)

# Exact expressions evaluated at 30 digits agree to ~28 digits; a difference above 1e-20 is real.
_SYMBOLIC_TOL = 1e-20


class ExpressionComparison(NumberComparison):
    """Two sympy expressions, in the order docs/math.md lists: each step decides when it can."""

    def exprs(self, ref: sympy.Expr, cand: sympy.Expr) -> Decision:
        if ref == cand:
            return Decision(True, "exact equality")
        numerals = numeral(ref), numeral(cand)
        if numerals != (None, None):
            return self.numerals(ref, cand, *numerals)
        if ref.has(*INFINITIES) or cand.has(*INFINITIES):
            return Decision(False, "different infinite values")
        if (
            not ref.free_symbols
            and not cand.free_symbols
            and not ref.atoms(AppliedUndef) | cand.atoms(AppliedUndef)
        ):
            return self.numbers(ref, cand)
        return self.symbolic(ref, cand)

    def symbolic(self, ref: sympy.Expr, cand: sympy.Expr) -> Decision:
        if ref.has(sympy.Sum, sympy.Product) or cand.has(sympy.Sum, sympy.Product):
            at_integers = agree_at_integer_points(ref, cand, self.tolerance or _SYMBOLIC_TOL)
            if at_integers is not None:
                how = "equal" if at_integers else "different"
                return Decision(
                    at_integers, f"{how} at integer values of the bounds (sum without closed form)"
                )
        if self.tolerance is None:
            exact = rational_identity(ref, cand)
            if exact is not None:
                how = "equal" if exact else "different"
                return Decision(exact, f"{how} as rational functions (exact, at random points mod 2^61-1)")
        try:
            with time_limit(self.config.symbolic_seconds):
                if sympy.expand(ref - cand) == 0:
                    return Decision(True, "symbolic equality (expanded difference is 0)")
        except StepTimeout:
            pass
        except (TypeError, ValueError, ArithmeticError, RecursionError):
            pass
        verdict = agree_at_random_points(ref, cand, self.config.points, self.tolerance or _SYMBOLIC_TOL)
        if verdict is True:
            return Decision(True, "numeric equality at random points of both signs")
        if verdict is False:
            return Decision(False, "expressions differ at a random point")
        return self.simplified(ref, cand, "numeric checks could not decide")
