"""Equivalence of two parsed answers: exact first, then symbolic, then numeric; every decision says how."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.core.function import AppliedUndef

from rlvr.verifier_server.math.limits import StepTimeout, time_limit
from rlvr.verifier_server.math.values import Answer, IntervalValue, Relation, Seq, SetOp, Text


@dataclass(frozen=True)
class CompareConfig:
    """How two answers are compared.

    rel_tol: relative tolerance for approximate (decimal) answers; exact answers must agree to 1e-12.
    ordered: bare lists ("1, 2") are order-sensitive (tuples always are, sets never).
    percent: "flexible" (28% matches 28 and 0.28) or "strict" (% must agree on both sides).
    units: "check" (known, different units are wrong: 5 cm vs 5 m) or "ignore".
    rounded_reference: a reference written as a decimal (7.78) accepts an exact answer that rounds to it.
    symbolic_seconds: soft limit for each sympy simplification (then numeric checks decide).
    """

    rel_tol: float = 1e-6
    ordered: bool = False
    percent: str = "flexible"
    units: str = "check"
    rounded_reference: bool = True
    symbolic_seconds: float = 1.5
    points: int = 6


@dataclass(frozen=True)
class Decision:
    """Whether the answers match, and how that was decided ("exact rational equality", ...)."""

    match: bool
    how: str


_EXACT_TOL = 1e-12
_INFINITIES = (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)
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
    decision = context.equal(reference.value, candidate.value)
    if decision.match:
        return decision
    if reference.percent != candidate.percent and config.percent == "flexible":
        ref_value = _as_fraction(reference)
        cand_value = _as_fraction(candidate)
        if ref_value is not None and cand_value is not None:
            fraction = context.equal(ref_value, cand_value)
            if fraction.match:
                return Decision(True, f"{fraction.how} (percent read as a fraction)")
    if "degree" in (reference.unit, candidate.unit) and reference.unit != candidate.unit:
        converted = _degrees_to_radians(reference, candidate)
        if converted is not None:
            radians = context.equal(*converted)
            if radians.match:
                return Decision(True, f"{radians.how} (degrees converted to radians)")
    return decision


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

    # -- dispatch ------------------------------------------------------------------------------------
    def equal(self, ref: Any, cand: Any) -> Decision:
        if isinstance(ref, Relation) or isinstance(cand, Relation):
            return self.relations(ref, cand)
        if isinstance(ref, sympy.MatrixBase) or isinstance(cand, sympy.MatrixBase):
            return self.matrices(ref, cand)
        if isinstance(ref, Seq) and isinstance(cand, Seq):
            return self.sequences(ref, cand)
        if _is_setlike(ref) or _is_setlike(cand):
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
            return Decision(True, "identical expressions")
        numeral = _numeral(ref), _numeral(cand)
        if numeral != (None, None):
            return self.numerals(ref, cand, *numeral)
        if ref.has(*_INFINITIES) or cand.has(*_INFINITIES):
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
                ref_value, cand_value = _complex(ref), _complex(cand)
        except (StepTimeout, TypeError, ValueError, ArithmeticError):
            return self.simplified(ref, cand, "numbers could not be evaluated")
        tolerance = self.tolerance if self.tolerance is not None else _EXACT_TOL
        scale = max(abs(ref_value), abs(cand_value))
        if abs(ref_value - cand_value) <= tolerance * scale and self.within_last_digit(ref, cand):
            how = (
                "numeric equality"
                if tolerance == _EXACT_TOL
                else f"numeric equality within rel_tol {tolerance:g}"
            )
            return Decision(True, how)
        return self.rounded(ref, cand, Decision(False, "different numbers"))

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
        try:
            with time_limit(self.config.symbolic_seconds):
                if sympy.expand(ref - cand) == 0:
                    return Decision(True, "symbolic equality (expanded difference is 0)")
        except StepTimeout:
            pass
        except (TypeError, ValueError, ArithmeticError, RecursionError):
            pass
        verdict = _random_points(ref, cand, self.config.points, self.tolerance or 1e-9)
        if verdict is True:
            return Decision(True, f"numeric equality at {self.config.points} random points")
        if verdict is False:
            return Decision(False, "expressions differ at a random point")
        return self.simplified(ref, cand, "expressions could not be evaluated")

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
        ref_rel, cand_rel = _normal_relation(ref), _normal_relation(cand)
        ref_is_eq = isinstance(ref_rel, Relation) and set(ref_rel.ops) == {"="}
        cand_is_eq = isinstance(cand_rel, Relation) and set(cand_rel.ops) == {"="}
        if ref_is_eq and cand_is_eq:
            return self.equations(ref_rel, cand_rel)
        if _all_ops(ref_rel, "!=") and _all_ops(cand_rel, "!="):
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
            value = _equation_value(equation)
            if value is None:
                return Decision(False, "an equation vs a value (the equation does not name one variable)")
            decision = self.equal(value, other) if ref_is_eq else self.equal(other, value)
            return Decision(decision.match, f"{decision.how} (value of {equation.exprs[0]})")
        if isinstance(ref_rel, Seq) or isinstance(cand_rel, Seq):
            seq = self.sequences(ref_rel, cand_rel)
            if seq.match or not (_to_set(ref_rel) and _to_set(cand_rel)):
                return seq
        if isinstance(ref_rel, Relation) and isinstance(cand_rel, Relation):
            decision = self.inequalities(ref_rel, cand_rel)
            if decision.match or _to_set(ref_rel) is None or _to_set(cand_rel) is None:
                return decision
        return self.sets(ref_rel, cand_rel)

    def equations(self, ref: Relation, cand: Relation) -> Decision:
        ref_value, cand_value = _equation_value(ref), _equation_value(cand)
        if ref_value is not None and cand_value is not None and _lone(ref) == _lone(cand):
            decision = self.equal(ref_value, cand_value)
            return Decision(decision.match, f"{decision.how} (value of {_lone(ref)})")
        ref_diff = _expr(ref.exprs[0]) - _expr(ref.exprs[-1])
        cand_diff = _expr(cand.exprs[0]) - _expr(cand.exprs[-1])
        if ref_diff is None or cand_diff is None:
            return Decision(False, "equations of different kinds")
        if _proportional(ref_diff, cand_diff, positive=False, points=self.config.points):
            return Decision(True, "equivalent equations (sides proportional)")
        return Decision(False, "different equations")

    def inequalities(self, ref: Relation, cand: Relation) -> Decision:
        ref_parts, cand_parts = _inequality_parts(ref), _inequality_parts(cand)
        if ref_parts is None or cand_parts is None or len(ref_parts) != len(cand_parts):
            return Decision(False, "different relations")
        unmatched = list(cand_parts)
        for expr, strict in ref_parts:
            for other in unmatched:
                if other[1] == strict and _proportional(
                    expr, other[0], positive=True, points=self.config.points
                ):
                    unmatched.remove(other)
                    break
            else:
                return Decision(False, "different inequalities")
        return Decision(True, "equivalent inequalities")

    # -- sets and intervals --------------------------------------------------------------------------
    def sets(self, ref: Any, cand: Any) -> Decision:
        ref_set, cand_set = _to_set(ref), _to_set(cand)
        if ref_set is None or cand_set is None:
            return Decision(False, f"{_kind(cand)} vs {_kind(ref)}")
        if ref_set == cand_set:
            return Decision(True, "same set" if not isinstance(ref_set, sympy.Interval) else "interval match")
        ref_pieces, cand_pieces = _pieces(ref_set), _pieces(cand_set)
        if ref_pieces is None or cand_pieces is None or len(ref_pieces) != len(cand_pieces):
            return Decision(False, "different sets")
        for (r_kind, r_val), (c_kind, c_val) in zip(ref_pieces, cand_pieces):
            if r_kind != c_kind:
                return Decision(False, "different sets")
            if r_kind == "point":
                if not self.exprs(r_val, c_val).match:
                    return Decision(False, "different set elements")
            else:
                if (r_val.left_open, r_val.right_open) != (c_val.left_open, c_val.right_open):
                    return Decision(False, "interval endpoints differ in openness")
                for a, b in ((r_val.start, c_val.start), (r_val.end, c_val.end)):
                    if not self.exprs(a, b).match:
                        return Decision(False, "different interval endpoints")
        return Decision(True, "interval match" if len(ref_pieces) == 1 else "same set (piecewise)")

    # -- sequences -----------------------------------------------------------------------------------
    def sequences(self, ref: Any, cand: Any) -> Decision:
        ref_items = _items(ref)
        cand_items = _items(cand)
        system = self.systems(ref, cand)
        if system is not None:
            return system
        if len(ref_items) != len(cand_items):
            return Decision(False, f"{len(cand_items)} values vs {len(ref_items)} expected")
        if len(ref_items) == 1:
            return self.equal(ref_items[0], cand_items[0])
        ordered = _ordered(ref, self.config) or _ordered(cand, self.config)
        if ordered:
            for a, b in zip(ref_items, cand_items):
                decision = self.equal(a, b)
                if not decision.match:
                    return Decision(False, f"ordered element differs: {decision.how}")
            return Decision(True, f"all {len(ref_items)} elements match in order")
        unmatched = list(cand_items)
        for a in ref_items:
            for b in unmatched:
                if self.equal(a, b).match:
                    unmatched.remove(b)
                    break
            else:
                return Decision(False, f"no match for element {a}")
        return Decision(True, f"all {len(ref_items)} elements match (any order)")

    def systems(self, ref: Any, cand: Any) -> Decision | None:
        """`x=1, y=2` against `y=2, x=1` or `(1, 2)`: solutions of a system, by variable."""
        ref_map = _assignments(ref)
        if ref_map is None:
            return None
        cand_map = _assignments(cand)
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
            if not self.equal(a, b).match:
                return Decision(False, "matrix entries differ")
        return Decision(True, "matrix entries match")

    def texts(self, ref: Any, cand: Any) -> Decision:
        ref_text, cand_text = _as_text(ref), _as_text(cand)
        if ref_text is None or cand_text is None:
            return Decision(False, f"{_kind(cand)} vs {_kind(ref)}")
        return Decision(ref_text == cand_text, "same text" if ref_text == cand_text else "different text")


# -- helpers ----------------------------------------------------------------------------------------


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


_NUMERAL_RE = re.compile(r"^([0-9A-Za-z]+)_(\d+)$")


def _numeral(value: sympy.Expr) -> tuple[str, str] | None:
    """(digits, base) of a base-subscripted numeral symbol such as `204_5`, else None."""
    if isinstance(value, sympy.Symbol):
        match = _NUMERAL_RE.match(value.name)
        if match and match.group(1)[0].isdigit():
            return match.group(1), match.group(2)
    return None


def _complex(value: sympy.Expr) -> complex:
    number = sympy.N(value, 30)
    if number.has(*_INFINITIES):
        raise ValueError("not finite")
    return complex(number)


def _is_setlike(value: Any) -> bool:
    return isinstance(value, (IntervalValue, SetOp, sympy.Set)) or (
        isinstance(value, Seq) and value.kind == "set"
    )


def _to_set(value: Any) -> sympy.Set | None:
    """A sympy set for interval-like values, or None when the value is not a set of numbers."""
    try:
        if isinstance(value, sympy.Set):
            return value
        if isinstance(value, IntervalValue):
            return sympy.Interval(value.left, value.right, value.left_open, value.right_open)
        if isinstance(value, Seq):
            if value.kind == "list" and all(isinstance(v, Relation) for v in value.items):
                parts = [_relation_set(v) for v in value.items]  # "x < -2 or x > 3"
                return None if any(p is None for p in parts) else sympy.Union(*parts)
            if value.kind == "set":
                items = [_expr(v) for v in value.items]
                return None if any(i is None for i in items) else sympy.FiniteSet(*items)
            ends = [_expr(v) for v in value.items]
            if len(ends) == 2 and None not in ends and (value.opener, value.closer) == ("(", ")"):
                return sympy.Interval.open(*ends)
            return None
        if isinstance(value, SetOp):
            parts = [_to_set(p) for p in value.parts]
            if any(p is None for p in parts):
                return None
            if value.op == "union":
                return sympy.Union(*parts)
            if value.op == "intersection":
                return sympy.Intersection(*parts)
            return sympy.Complement(parts[0], sympy.Union(*parts[1:]))
        if isinstance(value, Relation):
            return _relation_set(value)
        if isinstance(value, sympy.Expr) and value.is_number:
            return sympy.FiniteSet(value)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None
    return None


def _relation_set(relation: Relation) -> sympy.Set | None:
    """`-2 <= x < 7`, `x > 5`: the interval of the single variable, when the bounds are numbers."""
    parts = _inequality_bounds(relation)
    if parts is None:
        return None
    result: sympy.Set = sympy.Reals
    for low, high, low_open, high_open in parts:
        result = sympy.Intersection(result, sympy.Interval(low, high, low_open, high_open))
    return result


def _inequality_bounds(relation: Relation) -> list[tuple] | None:
    symbols = [e for e in relation.exprs if isinstance(e, (sympy.Symbol, AppliedUndef))]
    if len(symbols) != 1 or any(op in ("=", "!=", "approx") for op in relation.ops):
        return None
    variable = symbols[0]
    bounds = []
    for left, op, right in zip(relation.exprs, relation.ops, relation.exprs[1:]):
        if left == variable and isinstance(right, sympy.Expr) and right.is_number:
            bound, var_on_left = right, True
        elif right == variable and isinstance(left, sympy.Expr) and left.is_number:
            bound, var_on_left = left, False
        else:
            return None
        upper = (op in ("<", "<=")) == var_on_left
        strict = op in ("<", ">")
        bounds.append((-sympy.oo, bound, True, strict) if upper else (bound, sympy.oo, strict, True))
    return bounds


def _pieces(value: sympy.Set) -> list[tuple[str, Any]] | None:
    """A union as sorted ("interval", Interval) / ("point", expr) pieces, or None if not that kind."""
    parts = value.args if isinstance(value, sympy.Union) else (value,)
    pieces: list[tuple[str, Any]] = []
    for part in parts:
        if isinstance(part, sympy.Interval):
            pieces.append(("interval", part))
        elif isinstance(part, sympy.FiniteSet):
            pieces.extend(("point", p) for p in part.args)
        elif part == sympy.EmptySet:
            continue
        else:
            return None
    try:
        return sorted(pieces, key=lambda p: (float(p[1].start if p[0] == "interval" else p[1]), p[0]))
    except (TypeError, ValueError):
        return pieces


def _items(value: Any) -> tuple[Any, ...]:
    return value.items if isinstance(value, Seq) else (value,)


def _ordered(value: Any, config: CompareConfig) -> bool:
    return isinstance(value, Seq) and (value.kind == "tuple" or (value.kind == "list" and config.ordered))


def _assignments(value: Any) -> dict[str, Any] | None:
    """`x=1, y=2` as {"x": 1, "y": 2}; None unless every item is `variable = value`."""
    if not isinstance(value, Seq) or len(value.items) < 2:
        return None
    result: dict[str, Any] = {}
    for item in value.items:
        if not isinstance(item, Relation) or set(item.ops) != {"="}:
            return None
        lone, val = _lone(item), _equation_value(item)
        if lone is None or val is None or lone in result:
            return None
        result[lone] = val
    return result


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


def _expr(value: Any) -> sympy.Expr | None:
    return value if isinstance(value, sympy.Expr) and not isinstance(value, sympy.MatrixBase) else None


def _normal_relation(value: Any) -> Any:
    """Drop what follows `\\approx` after an equation (`x = 1/3 \\approx 0.33`); a lone approx is `=`."""
    if not isinstance(value, Relation):
        return value
    ops, exprs = list(value.ops), list(value.exprs)
    if "approx" in ops:
        cut = ops.index("approx")
        if cut > 0 and all(op == "=" for op in ops[:cut]):
            ops, exprs = ops[:cut], exprs[: cut + 1]
        else:
            ops = ["=" if op == "approx" else op for op in ops]
    return Relation(tuple(exprs), tuple(ops))


def _all_ops(value: Any, op: str) -> bool:
    return isinstance(value, Relation) and set(value.ops) == {op}


def _is_name(value: Any) -> bool:
    """A variable-like left side: `x`, `f(x)`, `AB` (a product of letters), `(p, q)` (a tuple of names)."""
    if isinstance(value, (sympy.Symbol, AppliedUndef)):
        return True
    if isinstance(value, sympy.Mul):
        return all(
            isinstance(f, sympy.Symbol)
            or (isinstance(f, sympy.Pow) and f.exp in (1, -1) and f.base.is_Symbol)
            for f in value.args
        )
    if isinstance(value, Seq) and value.kind == "tuple":
        return all(isinstance(item, (sympy.Symbol, AppliedUndef)) for item in value.items)
    return False


def _lone(relation: Relation) -> str | None:
    """The variable an equation names; `y`, `f(x)`, `g(x)` all name the dependent variable."""
    for side in (relation.exprs[0], relation.exprs[-1]):
        if _is_name(side):
            name = str(side)
            return "y" if name in _DEPENDENT_NAMES else name
    return None


_DEPENDENT_NAMES = frozenset({"y", "f(x)", "g(x)", "h(x)", "p(x)", "q(x)", "y(x)"})


def _equation_value(relation: Relation) -> Any:
    """The value an equation states: `x = 5+5+1 = 11` -> 11, `11 = x` -> 11, `1/2 = 0.5` -> 0.5.

    None when the equation is a condition rather than a value (`a + 3z = 0`).
    """
    first, last = relation.exprs[0], relation.exprs[-1]
    if _is_name(first) and not _is_name(last):
        return last
    if _is_name(last) and not _is_name(first):
        return first
    numeric = [isinstance(e, sympy.Expr) and not e.free_symbols for e in relation.exprs]
    if numeric[-1] and (all(numeric) or any(_is_name(e) for e in relation.exprs)):
        return last
    return None


def _inequality_parts(relation: Relation) -> list[tuple[sympy.Expr, bool]] | None:
    """Each link `a < b` of a chain as (b - a, strict), meaning b - a > 0 (or >= 0)."""
    parts = []
    for left, op, right in zip(relation.exprs, relation.ops, relation.exprs[1:]):
        if (
            not isinstance(left, sympy.Expr)
            or not isinstance(right, sympy.Expr)
            or op not in ("<", "<=", ">", ">=")
        ):
            return None
        difference = right - left if op in ("<", "<=") else left - right
        parts.append((difference, op in ("<", ">")))
    return parts


def _proportional(a: sympy.Expr, b: sympy.Expr, positive: bool, points: int) -> bool:
    """Whether a = c * b for a constant c != 0 (c > 0 when `positive`), checked at random points."""
    try:
        ratio = sympy.cancel(a / b)
        if ratio.is_number and ratio != 0:
            return bool(ratio > 0) if positive and ratio.is_real else not positive or False
    except (TypeError, ValueError, ArithmeticError, ZeroDivisionError):
        pass
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols:
        return False
    rng = random.Random(1234)
    ratios = []
    for _ in range(points):
        subs = {s: sympy.Float(rng.uniform(0.5, 2.5) * rng.choice((1, -1)), 20) for s in symbols}
        try:
            bv = complex(b.evalf(20, subs=subs))
            av = complex(a.evalf(20, subs=subs))
        except (TypeError, ValueError):
            continue
        if abs(bv) < 1e-12:
            continue
        ratios.append(av / bv)
    if len(ratios) < 3 or abs(ratios[0]) < 1e-12:
        return False
    first = ratios[0]
    if any(abs(r - first) > 1e-9 * abs(first) for r in ratios):
        return False
    return not positive or (abs(first.imag) < 1e-12 and first.real > 0)


def _random_points(ref: sympy.Expr, cand: sympy.Expr, points: int, tolerance: float) -> bool | None:
    """Evaluate both at seeded random points: True if all agree, False if one differs, None if unknown."""
    calls = sorted(ref.atoms(AppliedUndef) | cand.atoms(AppliedUndef), key=str)
    if calls:
        replacement = {call: sympy.Dummy(str(call)) for call in calls}
        ref, cand = ref.xreplace(replacement), cand.xreplace(replacement)
    symbols = sorted(ref.free_symbols | cand.free_symbols, key=str)
    verdict = _agree_at_points(ref, cand, symbols, points, tolerance, signed=True)
    fractional = _has_fractional_power(ref) or _has_fractional_power(cand)
    if verdict is False and fractional and not (ref.has(sympy.Abs) or cand.has(sympy.Abs)):
        # x^(2/3) vs cbrt(x^2) differ only off the real branch: read variables as positive, as graders do.
        return _agree_at_points(ref, cand, symbols, points, tolerance, signed=False)
    return verdict


def _has_fractional_power(expr: sympy.Expr) -> bool:
    return any(
        p.exp.is_Rational and not p.exp.is_Integer and p.base.free_symbols for p in expr.atoms(sympy.Pow)
    )


def _agree_at_points(
    ref: sympy.Expr, cand: sympy.Expr, symbols: list, points: int, tolerance: float, signed: bool
) -> bool | None:
    rng = random.Random(4321)
    agreed = 0
    for _ in range(points):
        subs = {
            s: sympy.Float(rng.uniform(0.3, 2.7) * (rng.choice((1, -1)) if signed else 1), 20)
            for s in symbols
        }
        try:
            with time_limit(1.0):
                a = complex(ref.evalf(20, subs=subs))
                b = complex(cand.evalf(20, subs=subs))
        except (StepTimeout, TypeError, ValueError, ArithmeticError, OverflowError):
            continue
        if a != a or b != b or abs(a) == float("inf") or abs(b) == float("inf"):
            continue
        if abs(a - b) > tolerance * max(abs(a), abs(b), 1e-3):
            return False
        agreed += 1
    return True if agreed >= 3 else None
