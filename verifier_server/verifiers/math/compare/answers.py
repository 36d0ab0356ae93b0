"""`compare_answers`: units, percent and truncated decimals, then the values through `Comparison`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.comparison import Comparison
from rlvr.verifier_server.verifiers.math.compare.decision import Decision
from rlvr.verifier_server.verifiers.math.compare.numbers import significant_digits
from rlvr.verifier_server.verifiers.math.values import Answer

_MEMBERSHIP_RE = re.compile(r"^\s*([A-Za-z])\s*\\in(?![A-Za-z])")
_APPROX_RE = re.compile(r"\d\.\d|(?<![\d.])\.\d")


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
    context = Comparison(config, tolerance, reference.decimals, candidate.decimals)
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
    if significant_digits(decimal.value, places) < 3:
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
