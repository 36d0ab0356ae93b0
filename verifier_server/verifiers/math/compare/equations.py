"""Comparing equations and inequalities: values of one variable, proportional sides, same solutions."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.decision import Decision
from rlvr.verifier_server.verifiers.math.compare.expressions import ExpressionComparison
from rlvr.verifier_server.verifiers.math.compare.sequences import SequenceComparison
from rlvr.verifier_server.verifiers.math.compare.sets import SetComparison
from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.numeric import proportional
from rlvr.verifier_server.verifiers.math.relations import (
    all_ops,
    as_set,
    equation_value,
    inequality_parts,
    lone_name,
    normal_relation,
    scalar,
)
from rlvr.verifier_server.verifiers.math.values import Relation, Seq


class RelationComparison(ExpressionComparison, SetComparison, SequenceComparison):
    """A `Relation` on either side: equations, inequalities, exclusions, and their sets."""

    def relations(self, ref: Any, cand: Any) -> Decision:
        ref_rel, cand_rel = normal_relation(ref), normal_relation(cand)
        ref_is_eq = isinstance(ref_rel, Relation) and set(ref_rel.ops) == {"="}
        cand_is_eq = isinstance(cand_rel, Relation) and set(cand_rel.ops) == {"="}
        if ref_is_eq and cand_is_eq:
            return self.equations(ref_rel, cand_rel)
        if all_ops(ref_rel, "!=") and all_ops(cand_rel, "!="):
            equal = (
                Relation(ref_rel.exprs, ("=",) * len(ref_rel.ops)),
                Relation(cand_rel.exprs, ("=",) * len(cand_rel.ops)),
            )
            decision = self.equations(*equal)
            return Decision(decision.match, f"{decision.how} (as exclusions)")
        if ref_is_eq or cand_is_eq:
            equation, other = (ref_rel, cand_rel) if ref_is_eq else (cand_rel, ref_rel)
            if isinstance(other, Relation):
                return Decision(False, "equation vs inequality")
            value = equation_value(equation)
            if value is None:
                return Decision(False, "an equation vs a value (the equation does not name one variable)")
            decision = self.equal(value, other) if ref_is_eq else self.equal(other, value)
            return Decision(decision.match, f"{decision.how} (value of {equation.exprs[0]})")
        if isinstance(ref_rel, Seq) or isinstance(cand_rel, Seq):
            seq = self.sequences(ref_rel, cand_rel)
            if seq.match or not (as_set(ref_rel) and as_set(cand_rel)):
                return seq
        if isinstance(ref_rel, Relation) and isinstance(cand_rel, Relation):
            decision = self.inequalities(ref_rel, cand_rel)
            if decision.match or as_set(ref_rel) is None or as_set(cand_rel) is None:
                return decision
        elif (
            isinstance(cand_rel, Relation)
            and not _relational(ref_rel)
            and not self.config.inequality_for_interval
        ):
            # The reference is written as a set (interval notation); an inequality does not answer in it.
            return Decision(
                False, "an inequality where the reference is a set (inequality_for_interval: false)"
            )
        elif isinstance(cand_rel, Relation) and self.set_variable is not None:
            # `x \in [-2, 7]` names its variable: an inequality about another one answers something else.
            names = {str(s) for e in cand_rel.exprs if isinstance(e, sympy.Expr) for s in e.free_symbols}
            if names != {self.set_variable}:
                return Decision(
                    False, f"an inequality in {sorted(names)}, the reference is about {self.set_variable}"
                )
        return self.sets(ref_rel, cand_rel)

    def equations(self, ref: Relation, cand: Relation) -> Decision:
        ref_value, cand_value = equation_value(ref), equation_value(cand)
        if ref_value is not None and cand_value is not None and lone_name(ref) == lone_name(cand):
            decision = self.equal(ref_value, cand_value)
            return Decision(decision.match, f"{decision.how} (value of {lone_name(ref)})")
        sides = [scalar(side) for side in (ref.exprs[0], ref.exprs[-1], cand.exprs[0], cand.exprs[-1])]
        if any(side is None for side in sides):
            return Decision(False, "equations of different kinds")
        ref_diff, cand_diff = sides[0] - sides[1], sides[2] - sides[3]
        if proportional(ref_diff, cand_diff, positive=False, points=self.config.points):
            return Decision(True, "equivalent equations (sides proportional)")
        solved = self.same_solutions(ref_diff, cand_diff)
        if solved is not None:
            return solved
        return Decision(False, "different equations")

    def same_solutions(self, ref_diff: sympy.Expr, cand_diff: sympy.Expr) -> Decision | None:
        """`xy = 6` against `y = 6/x`: equations in the same variables whose solutions for one of them
        (y first) are the same expressions. None when neither can be solved in time."""
        symbols = ref_diff.free_symbols
        if not symbols or symbols != cand_diff.free_symbols:
            return None
        order = sorted(symbols, key=lambda s: (str(s) != "y", str(s)))
        for variable in order:
            try:
                with time_limit(self.config.symbolic_seconds):
                    ref_roots = sympy.solve(ref_diff, variable)
                    cand_roots = sympy.solve(cand_diff, variable)
            except (StepTimeout, TypeError, ValueError, NotImplementedError, ArithmeticError, RecursionError):
                continue
            if (
                not ref_roots
                or not cand_roots
                or not all(isinstance(r, sympy.Expr) for r in ref_roots + cand_roots)
            ):
                continue
            unmatched = list(cand_roots)
            for root in ref_roots:
                found = next((c for c in unmatched if self.exprs(root, c).match), None)
                if found is None:
                    return Decision(False, f"different equations (solved for {variable})")
                unmatched.remove(found)
            if unmatched:
                return Decision(False, f"different equations (solved for {variable})")
            return Decision(True, f"equivalent equations (same solutions for {variable})")
        return None

    def inequalities(self, ref: Relation, cand: Relation) -> Decision:
        ref_parts, cand_parts = inequality_parts(ref), inequality_parts(cand)
        if ref_parts is None or cand_parts is None or len(ref_parts) != len(cand_parts):
            return Decision(False, "different relations")
        unmatched = list(cand_parts)
        for expr, strict in ref_parts:
            for other in unmatched:
                if other[1] == strict and proportional(
                    expr, other[0], positive=True, points=self.config.points
                ):
                    unmatched.remove(other)
                    break
            else:
                return Decision(False, "different inequalities")
        return Decision(True, "equivalent inequalities")


def _relational(value: Any) -> bool:
    """Whether a reference is written as inequalities (`x < -2 or x > 2`) rather than as a set."""
    if isinstance(value, Relation):
        return True
    return (
        isinstance(value, Seq) and value.kind == "list" and all(isinstance(v, Relation) for v in value.items)
    )
