"""Numeric checks of symbolic identities: seeded random points, proportional sides, exact evaluation."""

from __future__ import annotations

import random

import sympy
from sympy.core.function import AppliedUndef

from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit

INFINITIES = (sympy.oo, -sympy.oo, sympy.zoo, sympy.nan)


def to_complex(value: sympy.Expr) -> complex:
    """A constant expression evaluated at 30 digits; ValueError if infinite, TypeError if not a number."""
    number = sympy.N(value, 30)
    if number.has(*INFINITIES):
        raise ValueError("not finite")
    return complex(number)


def proportional(a: sympy.Expr, b: sympy.Expr, positive: bool, points: int) -> bool:
    """Whether a = c * b for a constant c != 0 (c > 0 when `positive`), checked at random points."""
    try:
        ratio = sympy.cancel(a / b)
    except (TypeError, ValueError, ArithmeticError):
        ratio = None
    if ratio is not None and ratio.is_number and ratio != 0:
        return not positive or bool(ratio.is_real and ratio > 0)
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


#: a Mersenne prime: exact evaluation of rational functions is done in the field of integers modulo it
PRIME = 2**61 - 1
_IDENTITY_TRIALS = 4
_MAX_EXACT_NODES = 20_000


class _NotRational(Exception):
    """The expression is not a rational function with rational coefficients (sqrt, sin, pi, floats...)."""


class _Pole(Exception):
    """A denominator vanishes at the chosen point (modulo PRIME): try another point."""


def rational_identity(ref: sympy.Expr, cand: sympy.Expr) -> bool | None:
    """Exact identity test of two rational functions with rational coefficients (Schwartz–Zippel).

    Both sides are evaluated exactly at random points modulo a 61-bit prime: different values prove
    the functions differ; equal values at 4 independent points mean a nonzero difference of degree d
    was missed with probability at most (d / 2^61)^4 (d ≤ 10^6 here, as the parser caps exponents).
    Costs a few hundred modular operations however high the powers, where `expand` of `(x+1)^{200}`
    takes seconds. None when either side is not such a function (then numeric checks decide).
    """
    symbols = sorted(ref.free_symbols | cand.free_symbols, key=str)
    if not symbols or _too_large(ref) or _too_large(cand):
        return None
    rng = random.Random(7919)
    agreed = 0
    for _ in range(4 * _IDENTITY_TRIALS):
        point = {symbol: rng.randrange(2, PRIME - 1) for symbol in symbols}
        try:
            same = _modular_value(ref, point) == _modular_value(cand, point)
        except _Pole:
            continue
        except (_NotRational, RecursionError):
            return None
        if not same:
            return False
        agreed += 1
        if agreed == _IDENTITY_TRIALS:
            return True
    return None


def _too_large(expr: sympy.Expr) -> bool:
    return sum(1 for _ in sympy.preorder_traversal(expr)) > _MAX_EXACT_NODES


def _modular_value(expr: sympy.Expr, point: dict) -> int:
    if expr.is_Integer:
        return int(expr) % PRIME
    if expr.is_Rational:
        denominator = int(expr.q) % PRIME
        if denominator == 0:
            raise _Pole
        return int(expr.p) * pow(denominator, -1, PRIME) % PRIME
    if expr.is_Symbol:
        if expr not in point:
            raise _NotRational
        return point[expr]
    if expr.is_Add:
        return sum(_modular_value(term, point) for term in expr.args) % PRIME
    if expr.is_Mul:
        product = 1
        for factor in expr.args:
            product = product * _modular_value(factor, point) % PRIME
        return product
    if expr.is_Pow and expr.exp.is_Integer:
        base = _modular_value(expr.base, point)
        exponent = int(expr.exp)
        if exponent < 0:
            if base == 0:
                raise _Pole
            return pow(pow(base, -1, PRIME), -exponent, PRIME)
        return pow(base, exponent, PRIME)
    raise _NotRational


# Points for numeric identity testing: magnitudes from three bands (so |x| < 1 and |x| > 1 both
# occur, and x + 1 changes sign), signs cycling so every variable is negative at some points.
_BANDS = ((0.15, 0.9), (1.1, 3.5), (3.5, 12.0))
_INFORMATIVE = 1e-12  # values smaller than this (both sides) cannot tell a difference from rounding


def agree_at_random_points(ref: sympy.Expr, cand: sympy.Expr, points: int, tolerance: float) -> bool | None:
    """Evaluate both sides at seeded points of both signs and several magnitudes, at 30 digits.

    False as soon as both sides are real at a point and differ there (an answer equal to the reference
    only on part of the domain, like sqrt(x^2) for x, is wrong). A point where they differ but one side
    is not real (x^(2/3) vs cbrt(x^2) for x < 0: a branch choice) decides nothing; the sides must then
    also agree where every variable is positive. Points where a side overflows, is not finite, or both
    are too small to compare are skipped. True only when at least 4 informative points agree; None
    (refuse to decide) otherwise.
    """
    calls = sorted(ref.atoms(AppliedUndef) | cand.atoms(AppliedUndef), key=str)
    if calls:
        replacement = {call: sympy.Dummy(str(call)) for call in calls}
        ref, cand = ref.xreplace(replacement), cand.xreplace(replacement)
    symbols = sorted(ref.free_symbols | cand.free_symbols, key=str)
    rng = random.Random(4321)
    agreed, branch_points = 0, 0
    for index in range(max(points, 6) + 3):
        subs = {}
        for number, symbol in enumerate(symbols):
            low, high = _BANDS[(index + number) % len(_BANDS)]
            sign = -1 if (index + number) % 2 else 1
            subs[symbol] = sympy.Float(sign * rng.uniform(low, high), 30)
        verdict = _compare_at(ref, cand, subs, tolerance)
        if verdict == "differ":
            return False
        if verdict == "branch":
            branch_points += 1
        elif verdict == "agree":
            agreed += 1
    if branch_points:
        positive = 0
        for _ in range(6):
            subs = {s: sympy.Float(rng.uniform(0.3, 6.0), 30) for s in symbols}
            verdict = _compare_at(ref, cand, subs, tolerance)
            if verdict in ("differ", "branch"):
                return False if verdict == "differ" else None
            positive += verdict == "agree"
        return True if positive >= 4 else None
    return True if agreed >= 4 else None


def _compare_at(ref: sympy.Expr, cand: sympy.Expr, subs: dict, tolerance: float) -> str:
    """One point: agree, differ (both real and different), branch (different, one not real) or skip."""
    try:
        with time_limit(1.0):
            a = complex(ref.evalf(30, subs=subs))
            b = complex(cand.evalf(30, subs=subs))
    except (StepTimeout, TypeError, ValueError, ArithmeticError, OverflowError):
        return "skip"
    if not all(_finite(v) for v in (a, b)):
        return "skip"
    scale = max(abs(a), abs(b))
    if scale < _INFORMATIVE:
        return "skip"
    if abs(a - b) <= tolerance * scale:
        return "agree"
    real = abs(a.imag) <= 1e-12 * max(abs(a), 1e-300) and abs(b.imag) <= 1e-12 * max(abs(b), 1e-300)
    return "differ" if real else "branch"


def _finite(value: complex) -> bool:
    return value == value and abs(value) < 1e250


def agree_at_integer_points(ref: sympy.Expr, cand: sympy.Expr, tolerance: float) -> bool | None:
    """For a sum or product with a symbolic bound that has no closed form (`\\sum_{k=1}^{n} k^k`):
    evaluate both sides with the variables set to small integers, where the sum is defined. True when
    6 such points agree, False at the first that differs, None when they cannot be evaluated."""
    symbols = sorted(ref.free_symbols | cand.free_symbols, key=str)
    agreed = 0
    for start in (1, 2, 3, 5, 8, 12):
        subs = {symbol: sympy.Integer(start + offset) for offset, symbol in enumerate(symbols)}
        try:
            with time_limit(1.0):
                a = ref.xreplace(subs).doit()
                b = cand.xreplace(subs).doit()
                if a.is_Rational and b.is_Rational:
                    same = a == b
                else:
                    av, bv = complex(sympy.N(a, 30)), complex(sympy.N(b, 30))
                    same = abs(av - bv) <= tolerance * max(abs(av), abs(bv), 1e-300)
        except (StepTimeout, TypeError, ValueError, ArithmeticError, OverflowError, RecursionError):
            return None
        if not same:
            return False
        agreed += 1
    return True if agreed == 6 else None
