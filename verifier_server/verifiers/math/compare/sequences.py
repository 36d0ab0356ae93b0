"""Comparing tuples, lists and sets of values, and solved systems (`x=1, y=2`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.decision import Decision
from rlvr.verifier_server.verifiers.math.compare.numbers import NumberComparison
from rlvr.verifier_server.verifiers.math.relations import assignments, solution_groups
from rlvr.verifier_server.verifiers.math.values import Seq

if TYPE_CHECKING:
    from rlvr.verifier_server.verifiers.math.compare.answers import CompareConfig

_MAX_DEDUPLICATED = 40  # pairwise equality checks stay under 800 per side


class SequenceComparison(NumberComparison):
    """Several values: tuples in order, sets in any order, bare lists as `ordered` says."""

    def sequences(self, ref: Any, cand: Any) -> Decision:
        ref, cand = solution_groups(ref), solution_groups(cand)
        ref_items = _items(ref)
        cand_items = _items(cand)
        system = self.systems(ref, cand)
        if system is not None:
            return system
        ordered = _ordered(ref, self.config, reference=True) or _ordered(cand, self.config, reference=False)
        repeated = ""
        if not ordered and len(ref_items) >= 2 and len(cand_items) > len(ref_items):
            # An unordered answer is a set: a solution listed twice is still the same answer, unless
            # the reference itself repeats values (then the count is part of the answer).
            distinct = self.without_repeats(cand_items)
            if len(distinct) < len(cand_items) and len(self.without_repeats(ref_items)) == len(ref_items):
                cand_items, repeated = distinct, " (repeated values counted once)"
        if len(ref_items) != len(cand_items):
            return Decision(False, f"{len(cand_items)} values vs {len(ref_items)} expected")
        if len(ref_items) == 1:
            return self.equal(ref_items[0], cand_items[0])
        if ordered:
            for a, b in zip(ref_items, cand_items):
                decision = self.entries(a, b)
                if not decision.match:
                    return Decision(False, f"ordered element differs: {decision.how}")
            return Decision(True, f"all {len(ref_items)} elements match in order")
        unmatched = list(cand_items)
        for a in ref_items:
            for b in unmatched:
                if self.entries(a, b).match:
                    unmatched.remove(b)
                    break
            else:
                return Decision(False, f"no match for element {a}")
        return Decision(True, f"all {len(ref_items)} elements match (any order){repeated}")

    def without_repeats(self, items: tuple[Any, ...]) -> tuple[Any, ...]:
        """The items with later copies of an equal item dropped (pairwise: at most 40 items)."""
        if len(items) > _MAX_DEDUPLICATED:
            return items
        kept: list[Any] = []
        for item in items:
            if not any(self.equal(seen, item).match for seen in kept):
                kept.append(item)
        return tuple(kept)

    def systems(self, ref: Any, cand: Any) -> Decision | None:
        """`x=1, y=2` against `y=2, x=1` or `(1, 2)`: solutions of a system, by variable."""
        ref_map = assignments(ref)
        if ref_map is None:
            return None
        cand_map = assignments(cand)
        if cand_map is not None:
            if set(cand_map) != set(ref_map):
                return Decision(False, "different variables")
            for name, value in ref_map.items():
                if not self.equal(value, cand_map[name]).match:
                    return Decision(False, f"different value of {name}")
            return Decision(True, "same value for every variable")
        cand_items = _items(cand)
        if isinstance(cand, Seq) and cand.kind == "tuple" and len(cand_items) == len(ref_map):
            for value, item in zip(ref_map.values(), cand_items):
                if not self.equal(value, item).match:
                    return Decision(False, "tuple differs from the solved values")
            return Decision(True, "tuple matches the solved values in order")
        return None


def _items(value: Any) -> tuple[Any, ...]:
    return value.items if isinstance(value, Seq) else (value,)


def _ordered(value: Any, config: CompareConfig, reference: bool) -> bool:
    if not isinstance(value, Seq) or value.kind == "set":
        return False
    if value.kind == "tuple":
        return True
    if config.ordered is not None:
        return config.ordered
    return reference and _unsorted_numbers(value.items)


def _unsorted_numbers(items: tuple[Any, ...]) -> bool:
    """Whether 3+ real numbers are not in ascending order (solution sets are written ascending)."""
    if len(items) < 3 or not all(isinstance(i, sympy.Expr) and i.is_number and i.is_real for i in items):
        return False
    try:
        values = [float(i) for i in items]
    except (TypeError, ValueError):
        return False
    return any(a > b for a, b in zip(values, values[1:]))
