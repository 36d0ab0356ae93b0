"""Comparing numbers: exact rationals, numerals in a base, closeness, rounded references and entries."""

from __future__ import annotations

import re
from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.compare.context import ComparisonContext
from rlvr.verifier_server.verifiers.math.compare.decision import Decision
from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.numeric import to_complex

_EXACT_TOL = 1e-12
_NUMERAL_RE = re.compile(r"^([0-9A-Za-z]+)_(\d+)$")


class NumberComparison(ComparisonContext):
    """Numbers (no free symbols), and the rules of decimal precision for them and for container entries."""

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
        if significant_digits(ref, places) < 3:
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
        if significant_digits(cand, places) < 4 or not ref.is_Rational:
            return otherwise
        scaled = abs(ref) * 10**places
        rounded = sympy.floor(scaled + sympy.Rational(1, 2)) * (1 if ref >= 0 else -1)
        if rounded == cand * 10**places:
            return Decision(True, f"reference rounds to the answer at {places} decimals")
        return otherwise

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
        if significant_digits(cand, places) < 2:
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


def significant_digits(value: sympy.Rational, places: int) -> int:
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


def numeral(value: sympy.Expr) -> tuple[str, str] | None:
    """(digits, base) of a base-subscripted numeral symbol such as `204_5`, else None."""
    if isinstance(value, sympy.Symbol):
        match = _NUMERAL_RE.match(value.name)
        if match and match.group(1)[0].isdigit():
            return match.group(1), match.group(2)
    return None
