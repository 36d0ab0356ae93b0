"""Equivalence of two parsed answers: exact first, then symbolic, then numeric; every decision says how."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.core.function import AppliedUndef

from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.numeric import (
    INFINITIES,
    agree_at_integer_points,
    agree_at_random_points,
    proportional,
    rational_identity,
    to_complex,
)
from rlvr.verifier_server.verifiers.math.relations import (
    all_ops,
    as_set,
    assignments,
    equation_value,
    inequality_parts,
    is_setlike,
    lone_name,
    normal_relation,
    scalar,
    set_pieces,
    solution_groups,
)
from rlvr.verifier_server.verifiers.math.values import Answer, IntervalValue, Relation, Seq, SetOp, Text


@dataclass(frozen=True)
class CompareConfig:
    """How two answers are compared.

    rel_tol: relative tolerance for approximate (decimal) answers; exact answers must agree to 1e-12.
    ordered: bare lists ("1, 2") are order-sensitive (tuples always are, sets never). None (auto): only a
        reference list of 3+ real numbers not in ascending order ("10, 4, -2": positions, not a sorted
        solution set) is order-sensitive.
    percent: "flexible" (default, as the major graders' suites expect: a `%` on one side only is read
        either as written or as a fraction, so 28% matches 28 and 0.28 on either side), "fraction" (an
        answer of 28% is 0.28 against a reference without %, so not 28; a reference of 28% still
        accepts 28), or "strict" (% on both sides or neither). "lenient" is another name for flexible.
    units: "check" (known, different units are wrong: 5 cm vs 5 m) or "ignore".
    rounded_reference: a reference written as a decimal (7.78) accepts an exact answer that rounds to it.
    inequality_for_interval: an inequality answer (-2 <= x <= 7) may match a set reference ([-2, 7]);
        off by default (the question asked for the set), while a set answer always matches an inequality.
    symbolic_seconds: soft limit for each sympy simplification (then numeric checks decide).
    """

    rel_tol: float = 1e-6
    ordered: bool | None = None
    percent: str = "flexible"
    units: str = "check"
    rounded_reference: bool = True
    inequality_for_interval: bool = False
    symbolic_seconds: float = 1.5
    points: int = 6


@dataclass(frozen=True)
class Decision:
    """Whether the answers match, and how that was decided ("exact rational equality", ...)."""

    match: bool
    how: str


_EXACT_TOL = 1e-12
# Exact expressions evaluated at 30 digits agree to ~28 digits; a difference above 1e-20 is real.
_SYMBOLIC_TOL = 1e-20
_MEMBERSHIP_RE = re.compile(r"^\s*([A-Za-z])\s*\\in(?![A-Za-z])")
_APPROX_RE = re.compile(r"\d\.\d|(?<![\d.])\.\d")


def compare_answers(
    reference: Answer, candidate: Answer, config: CompareConfig = CompareConfig()
) -> Decision:
    """Decide whether `candidate` states the same answer as `reference` (units, percent, then values)."""
    known = _known(reference.unit) and _known(candidate.unit)
    if config.units == "check" and known and reference.unit != candidate.unit:
        return Decision(False, f"unit mismatch: {candidate.unit} vs {reference.unit}")
    tolerance = (
        config.rel_tol if _APPROX_RE.search(candidate.text) or _APPROX_RE.search(reference.text) else None
    )
    context = _Context(config, tolerance, reference.decimals, candidate.decimals)
    if candidate.truncated or reference.truncated:
        decision = _truncated_decimal(reference, candidate)
        if decision is not None:
            return decision
    member = _MEMBERSHIP_RE.match(reference.text)
    context.set_variable = member.group(1) if member else None
    one_sided = reference.percent != candidate.percent
    if one_sided and config.percent == "strict":
        return Decision(False, "percent sign on one side only (percent: strict)")
    # With "fraction", an answer of "28%" against a plain 28 is read as 0.28 only; a reference of 28%
    # accepts 28 in every mode but strict.
    raw_allowed = not (candidate.percent and not reference.percent) or config.percent != "fraction"
    decision = context.equal(reference.value, candidate.value) if raw_allowed else Decision(False, "")
    if decision.match:
        return decision
    if one_sided:
        ref_value, cand_value = _as_fraction(reference), _as_fraction(candidate)
        if ref_value is not None and cand_value is not None:
            fraction = context.equal(ref_value, cand_value)
            if fraction.match:
                return Decision(True, f"{fraction.how} (percent read as a fraction)")
            decision = (
                decision if decision.how else Decision(False, f"{fraction.how} (percent read as a fraction)")
            )
    if "degree" in (reference.unit, candidate.unit) and reference.unit != candidate.unit:
        converted = _degrees_to_radians(reference, candidate)
        if converted is not None:
            radians = context.equal(*converted)
            if radians.match:
                return Decision(True, f"{radians.how} (degrees converted to radians)")
    return decision


def _truncated_decimal(reference: Answer, candidate: Answer) -> Decision | None:
    """`0.333...` against 1/3 (either side): the shown digits must be the exact value's, truncated or
    rounded at the last one shown, with at least 3 significant digits. None when not applicable."""
    decimal, exact = (candidate, reference) if candidate.truncated else (reference, candidate)
    if not isinstance(exact.value, sympy.Expr) or not exact.value.is_number or exact.truncated:
        return None
    if not isinstance(decimal.value, sympy.Rational) or decimal.decimals is None:
        return None
    places = decimal.decimals
    if _significant_digits(decimal.value, places) < 3:
        return None
    try:
        value = sympy.N(exact.value, 50)
    except (TypeError, ValueError):
        return None
    if not value.is_real:
        return Decision(False, "a truncated decimal against a complex value")
    unit = sympy.Rational(1, 10**places)
    shown = abs(decimal.value)
    same_sign = (value >= 0) == (decimal.value >= 0) or decimal.value == 0
    if same_sign and (shown <= abs(value) < shown + unit or abs(abs(value) - shown) <= unit / 2):
        return Decision(True, f"truncated decimal: the exact value begins {decimal.text}")
    return Decision(False, "the decimal's digits are not the exact value's")


def _known(unit: str | None) -> bool:
    return unit is not None and not unit.startswith("?")


def _as_fraction(answer: Answer) -> Any:
    if not isinstance(answer.value, sympy.Expr):
        return None
    return answer.value / 100 if answer.percent else answer.value


def _degrees_to_radians(reference: Answer, candidate: Answer) -> tuple[Any, Any] | None:
    values = []
    for answer in (reference, candidate):
        if not isinstance(answer.value, sympy.Expr):
            return None
        values.append(answer.value * sympy.pi / 180 if answer.unit == "degree" else answer.value)
    if not any(v.has(sympy.pi) for v in (reference.value, candidate.value)):
        return None
    return values[0], values[1]


_MAX_DEDUPLICATED = 40  # pairwise equality checks stay under 800 per side


class _Context:
    """One comparison: the config plus what the answers' text says about precision."""

    def __init__(
        self,
        config: CompareConfig,
        tolerance: float | None,
        ref_decimals: int | None,
        cand_decimals: int | None,
    ):
        self.config = config
        self.tolerance = tolerance
        self.ref_decimals = ref_decimals
        self.cand_decimals = cand_decimals
        #: the variable a set reference names (`x \in [-2, 7]` -> "x"), else None
        self.set_variable: str | None = None

    # -- dispatch ------------------------------------------------------------------------------------
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
        return Decision(False, f"{_kind(cand)} vs {_kind(ref)}")

    # -- scalars -------------------------------------------------------------------------------------
    def exprs(self, ref: sympy.Expr, cand: sympy.Expr) -> Decision:
        if ref == cand:
            return Decision(True, "exact equality")
        numeral = _numeral(ref), _numeral(cand)
        if numeral != (None, None):
            return self.numerals(ref, cand, *numeral)
        if ref.has(*INFINITIES) or cand.has(*INFINITIES):
            return Decision(False, "different infinite values")
        if (
            not ref.free_symbols
            and not cand.free_symbols
            and not ref.atoms(AppliedUndef) | cand.atoms(AppliedUndef)
        ):
            return self.numbers(ref, cand)
        return self.symbolic(ref, cand)

    def numerals(
        self, ref: sympy.Expr, cand: sympy.Expr, ref_num: tuple | None, cand_num: tuple | None
    ) -> Decision:
        """`204_5` against `204_5` or a bare `204` (the subscript omitted); another base never matches."""
        ref_digits, ref_base = ref_num or (str(ref), None)
        cand_digits, cand_base = cand_num or (str(cand), None)
        if ref_base and cand_base and ref_base != cand_base:
            return Decision(False, f"numeral in base {cand_base}, expected base {ref_base}")
        same = ref_digits == cand_digits
        return Decision(same, "same digits in the same base" if same else "different numerals")

    def numbers(self, ref: sympy.Expr, cand: sympy.Expr) -> Decision:
        if ref.is_Rational and cand.is_Rational and self.tolerance is None:
            decision = Decision(
                ref == cand, "exact rational equality" if ref == cand else "different numbers"
            )
            return decision if decision.match else self.rounded(ref, cand, decision)
        try:
            with time_limit(self.config.symbolic_seconds):
                ref_value, cand_value = to_complex(ref), to_complex(cand)
        except (StepTimeout, TypeError, ValueError, ArithmeticError):
            return self.simplified(ref, cand, "numbers could not be evaluated")
        tolerance = self.tolerance if self.tolerance is not None else _EXACT_TOL
        scale = max(abs(ref_value), abs(cand_value))
        close = abs(ref_value - cand_value) <= tolerance * scale
        if close and self.tolerance is None and not self.agree_to_many_digits(ref, cand):
            return Decision(False, "different numbers (they differ beyond the 12th digit)")
        if close and self.within_last_digit(ref, cand):
            how = (
                "numeric equality"
                if tolerance == _EXACT_TOL
                else f"numeric equality within rel_tol {tolerance:g}"
            )
            return Decision(True, how)
        return self.rounded(ref, cand, Decision(False, "different numbers"))

    def agree_to_many_digits(self, ref: sympy.Expr, cand: sympy.Expr) -> bool:
        """Exact values that agree to 12 digits must agree to 45 (`sqrt(10^30+1)` is not `10^15`);
        when they cannot be evaluated that far, the 12-digit agreement stands."""
        try:
            with time_limit(self.config.symbolic_seconds):
                high_a, high_b = sympy.N(ref, 60), sympy.N(cand, 60)
                difference = abs(sympy.N(high_a - high_b, 60))
                scale = max(abs(high_a), abs(high_b))
        except (StepTimeout, TypeError, ValueError, ArithmeticError):
            return True
        return bool(difference <= scale * sympy.Float("1e-45"))

    def within_last_digit(self, ref: sympy.Expr, cand: sympy.Expr) -> bool:
        """A decimal answer with k places must be within one unit of its last digit (1.0000001 != 1)."""
        places = self.cand_decimals
        if places is None or self.ref_decimals is not None or not cand.is_Rational:
            return True
        try:
            difference = abs(ref - cand) if ref.is_Rational else abs(sympy.N(ref, 50) - cand)
            return bool(difference < sympy.Rational(1, 10**places))
        except (TypeError, ValueError):
            return True

    def rounded(self, ref: sympy.Expr, cand: sympy.Expr, otherwise: Decision) -> Decision:
        """A reference written with k decimals (7.78) accepts an answer that rounds to it (70/9).

        The reference needs 3 significant digits (0.5 may be exact, 7.78 is rounded), and the answer must
        be exact or a longer decimal within 0.1 % of it, so that neither 0.47 nor 6/11 matches 0.5.
        """
        places = self.ref_decimals
        if not self.config.rounded_reference or places is None or places < 1 or not ref.is_Rational:
            return otherwise
        if _significant_digits(ref, places) < 3:
            return otherwise
        if self.cand_decimals is not None and self.cand_decimals < places:
            return self.shortened(ref, cand, otherwise)
        if self.cand_decimals is not None and self.cand_decimals <= places:
            return otherwise
        try:
            value = sympy.N(cand, 40)
        except (TypeError, ValueError):
            return otherwise
        if not value.is_real:
            return otherwise
        difference = abs(value - ref)
        if difference > sympy.Rational(1, 2) * sympy.Rational(1, 10**places) * (1 + sympy.Rational(1, 10**9)):
            return otherwise
        if self.cand_decimals is not None and ref != 0 and difference / abs(ref) > sympy.Rational(1, 1000):
            return otherwise
        return Decision(True, f"answer rounds to the reference at {places} decimals")

    def entries(self, ref: Any, cand: Any) -> Decision:
        """One entry of a tuple, matrix, set or interval: `equal`, plus the rounded-entry rule."""
        decision = self.equal(ref, cand)
        if decision.match or not (isinstance(ref, sympy.Expr) and isinstance(cand, sympy.Expr)):
            return decision
        return self.rounded_entry(ref, cand, decision)

    def rounded_entry(self, ref: sympy.Expr, cand: sympy.Expr, otherwise: Decision) -> Decision:
        """An entry written as a decimal (0.33 in a vector) against an exact entry with no finite decimal
        form (1/3, 8/3, sqrt(2)): the entry must be the reference correctly rounded to its places, with at
        least 2 significant digits (0.3 and 0.34 never match 1/3, 0.47 never matches 0.5)."""
        if self.tolerance is None or not cand.is_Rational or ref.free_symbols or not ref.is_number:
            return otherwise
        places = _decimal_places(cand)
        if not places or (ref.is_Rational and _decimal_places(ref) is not None):
            return otherwise
        if _significant_digits(cand, places) < 2:
            return otherwise
        try:
            value = sympy.N(ref, 50)
        except (TypeError, ValueError):
            return otherwise
        if not value.is_real:
            return otherwise
        rounded = sympy.floor(abs(value) * 10**places + sympy.Rational(1, 2)) * (1 if value >= 0 else -1)
        if rounded != cand * 10**places:
            return otherwise
        return Decision(True, f"decimal entry is the exact entry rounded to {places} places")

    def shortened(self, ref: sympy.Expr, cand: sympy.Expr, otherwise: Decision) -> Decision:
        """3.1416 for a reference of 3.14159: a decimal answer with fewer places, but at least 4
        significant digits, that the reference rounds to (half away from zero)."""
        places = self.cand_decimals or 0
        if _significant_digits(cand, places) < 4 or not ref.is_Rational:
            return otherwise
        scaled = abs(ref) * 10**places
        rounded = sympy.floor(scaled + sympy.Rational(1, 2)) * (1 if ref >= 0 else -1)
        if rounded == cand * 10**places:
            return Decision(True, f"reference rounds to the answer at {places} decimals")
        return otherwise

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

    def simplified(self, ref: sympy.Expr, cand: sympy.Expr, reason: str) -> Decision:
        try:
            with time_limit(self.config.symbolic_seconds):
                if sympy.simplify(ref - cand) == 0:
                    return Decision(True, "symbolic equality (simplified difference is 0)")
        except StepTimeout:
            return Decision(False, f"{reason}; simplification timed out")
        except (TypeError, ValueError, ArithmeticError, RecursionError):
            pass
        return Decision(False, f"{reason}; not provably equal")

    # -- relations -----------------------------------------------------------------------------------
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

    # -- sets and intervals --------------------------------------------------------------------------
    def sets(self, ref: Any, cand: Any) -> Decision:
        ref_set, cand_set = as_set(ref), as_set(cand)
        if ref_set is None or cand_set is None:
            return Decision(False, f"{_kind(cand)} vs {_kind(ref)}")
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

    # -- sequences -----------------------------------------------------------------------------------
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

    # -- matrices and text ---------------------------------------------------------------------------
    def matrices(self, ref: Any, cand: Any) -> Decision:
        ref_items, cand_items = _matrix_items(ref), _matrix_items(cand)
        if ref_items is None or cand_items is None:
            return Decision(False, f"{_kind(cand)} vs {_kind(ref)}")
        if ref_items[0] != cand_items[0]:
            return Decision(False, f"matrix shapes differ: {cand_items[0]} vs {ref_items[0]}")
        for a, b in zip(ref_items[1], cand_items[1]):
            if not self.entries(a, b).match:
                return Decision(False, "matrix entries differ")
        return Decision(True, "matrix entries match")

    def texts(self, ref: Any, cand: Any) -> Decision:
        ref_text, cand_text = _as_text(ref), _as_text(cand)
        if ref_text is None or cand_text is None:
            return Decision(False, f"{_kind(cand)} vs {_kind(ref)}")
        return Decision(ref_text == cand_text, "same text" if ref_text == cand_text else "different text")


# -- helpers ----------------------------------------------------------------------------------------


def _relational(value: Any) -> bool:
    """Whether a reference is written as inequalities (`x < -2 or x > 2`) rather than as a set."""
    if isinstance(value, Relation):
        return True
    return (
        isinstance(value, Seq) and value.kind == "list" and all(isinstance(v, Relation) for v in value.items)
    )


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


def _significant_digits(value: sympy.Rational, places: int) -> int:
    """Significant digits of a decimal literal with `places` decimals (7.78 -> 3, 0.050 -> 2)."""
    return len(str(abs(value * 10**places)).lstrip("0"))


def _decimal_places(value: sympy.Rational) -> int | None:
    """Digits after the point of a rational's finite decimal form (33/100 -> 2, 5 -> 0), or None
    when it has none (1/3) or needs more than 30."""
    denominator = int(value.q)
    for places in range(31):
        if 10**places % denominator == 0:
            return places
    return None


_NUMERAL_RE = re.compile(r"^([0-9A-Za-z]+)_(\d+)$")


def _numeral(value: sympy.Expr) -> tuple[str, str] | None:
    """(digits, base) of a base-subscripted numeral symbol such as `204_5`, else None."""
    if isinstance(value, sympy.Symbol):
        match = _NUMERAL_RE.match(value.name)
        if match and match.group(1)[0].isdigit():
            return match.group(1), match.group(2)
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


def _matrix_items(value: Any) -> tuple[tuple[int, int], list[Any]] | None:
    if isinstance(value, sympy.MatrixBase):
        shape = value.shape
        if 1 in shape:
            return (max(shape), 1), list(value)
        return shape, list(value)
    if isinstance(value, Seq) and value.kind == "tuple":
        return (len(value.items), 1), list(value.items)
    return None


def _as_text(value: Any) -> str | None:
    if isinstance(value, Text):
        return re.sub(r"[^a-z0-9]+", "", value.text.lower())
    if isinstance(value, sympy.Symbol):
        return re.sub(r"[^a-z0-9]+", "", value.name.lower())
    if isinstance(value, sympy.Integer):
        return str(value)
    return None
