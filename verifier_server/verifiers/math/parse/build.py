"""Building values from parsed parts: scalar coercion, checked arithmetic, guarded sizes, ± expansion."""

from __future__ import annotations

from typing import Any

import sympy

from rlvr.verifier_server.verifiers.math.values import (
    AnswerTooLarge,
    IntervalValue,
    ParseError,
    Relation,
    Seq,
    SetOp,
    Text,
)

#: the sign of `a \pm b`, expanded into the set {a + b, a - b} by `finish`
PM = sympy.Symbol("_pm_")
ELLIPSIS = sympy.Symbol("...")
#: the largest n of n!, binomial(n, k), arrangements of n and factors of a product that is evaluated
MAX_COUNT = 20000


def expr(value: Any) -> sympy.Expr:
    """The value as a scalar sympy expression, or ParseError when it is a container or a matrix."""
    if isinstance(value, sympy.Expr) and not isinstance(value, sympy.MatrixBase):
        return value
    if isinstance(value, (int, float)):
        return sympy.sympify(value)
    raise ParseError(f"expected a number or expression, found a {type(value).__name__}")


def operand(value: Any) -> Any:
    """A scalar or a matrix: what `+ - *` accept (matrix sums and products are answers too)."""
    return value if isinstance(value, sympy.MatrixBase) else expr(value)


def arithmetic(operation: Any, *values: Any) -> Any:
    try:
        return operation(*[operand(v) for v in values])
    except (TypeError, ValueError, NotImplementedError, ArithmeticError) as exc:  # e.g. matrix shapes
        raise ParseError(f"invalid arithmetic: {exc}") from None


def neg(value: Any) -> Any:
    if isinstance(value, IntervalValue | Seq | SetOp | Relation | Text):
        raise ParseError("minus sign before a set or list")
    return -operand(value)


def mixed(whole: int, num: int, den: int) -> sympy.Rational | None:
    """The mixed number `whole num/den`, or None unless num/den is a proper fraction."""
    if den == 0 or num >= den:
        return None
    return sympy.Integer(whole) + sympy.Rational(num, den)


def binomial(top: sympy.Expr, bottom: sympy.Expr, text: str) -> sympy.Expr:
    if top.is_Integer and top > MAX_COUNT:
        raise AnswerTooLarge(f"binomial coefficient of {top} is too large to evaluate", text)
    return sympy.binomial(top, bottom)


def finish(value: Any) -> Any:
    """Expand ± into the set of its two values, also inside lists (`1 \\pm 2, 5` has three items)."""
    if isinstance(value, sympy.Basic) and value.has(PM):
        plus, minus = value.subs(PM, 1), value.subs(PM, -1)
        return Seq((plus, minus), "set") if plus != minus else plus
    if isinstance(value, Seq):
        items: list[Any] = []
        for item in value.items:
            done = finish(item)
            if (
                isinstance(done, Seq)
                and done.kind == "set"
                and value.kind != "tuple"
                and isinstance(item, sympy.Basic)
            ):
                items.extend(done.items)
            else:
                items.append(done)
        return Seq(tuple(items), value.kind, value.opener, value.closer)
    return value
