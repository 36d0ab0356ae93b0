"""Normal forms of equations, inequalities and sets, so that compare.py can match them."""

from __future__ import annotations

from typing import Any

import sympy
from sympy.core.function import AppliedUndef

from rlvr.verifier_server.verifiers.math.deadlines import StepTimeout, time_limit
from rlvr.verifier_server.verifiers.math.values import IntervalValue, Relation, Seq, SetOp


def is_setlike(value: Any) -> bool:
    return isinstance(value, (IntervalValue, SetOp, sympy.Set)) or (
        isinstance(value, Seq) and value.kind == "set"
    )


def as_set(value: Any) -> sympy.Set | None:
    """A sympy set for interval-like values, or None when the value is not a set of numbers."""
    try:
        if isinstance(value, sympy.Set):
            return value
        if isinstance(value, IntervalValue):
            return sympy.Interval(value.left, value.right, value.left_open, value.right_open)
        if isinstance(value, Seq):
            if value.kind == "list" and all(isinstance(v, Relation) for v in value.items):
                parts = [relation_set(v) for v in value.items]  # "x < -2 or x > 3"
                return None if any(p is None for p in parts) else sympy.Union(*parts)
            if value.kind == "set":
                items = [scalar(v) for v in value.items]
                return None if any(i is None for i in items) else sympy.FiniteSet(*items)
            ends = [scalar(v) for v in value.items]
            if len(ends) == 2 and None not in ends and (value.opener, value.closer) == ("(", ")"):
                return sympy.Interval.open(*ends)
            return None
        if isinstance(value, SetOp):
            parts = [as_set(p) for p in value.parts]
            if any(p is None for p in parts):
                return None
            if value.op == "union":
                return sympy.Union(*parts)
            if value.op == "intersection":
                return sympy.Intersection(*parts)
            return sympy.Complement(parts[0], sympy.Union(*parts[1:]))
        if isinstance(value, Relation):
            return relation_set(value)
        if isinstance(value, sympy.Expr) and value.is_number:
            return sympy.FiniteSet(value)
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None
    return None


def relation_set(relation: Relation) -> sympy.Set | None:
    """`-2 <= x < 7`, `x > 5`: the interval of the single variable, when the bounds are numbers.
    Any other inequality in one variable (`|x - 1| < 2`, `x^2 > 4`) is solved over the reals."""
    parts = _inequality_bounds(relation)
    if parts is None:
        return _solved_inequality(relation)
    result: sympy.Set = sympy.Reals
    for low, high, low_open, high_open in parts:
        result = sympy.Intersection(result, sympy.Interval(low, high, low_open, high_open))
    return result


_RELATION_CLASSES = {"<": sympy.StrictLessThan, "<=": sympy.LessThan, ">": sympy.StrictGreaterThan}
_RELATION_CLASSES[">="] = sympy.GreaterThan


def _solved_inequality(relation: Relation) -> sympy.Set | None:
    """The solution set over the reals of an inequality chain in one variable, or None."""
    if not all(op in _RELATION_CLASSES for op in relation.ops):
        return None
    if not all(isinstance(e, sympy.Expr) for e in relation.exprs):
        return None
    symbols = set().union(*(e.free_symbols for e in relation.exprs))
    if len(symbols) != 1 or any(e.atoms(AppliedUndef) for e in relation.exprs):
        return None
    variable = symbols.pop()
    real = sympy.Dummy(str(variable), real=True)
    result: sympy.Set = sympy.Reals
    try:
        with time_limit(1.0):
            for left, op, right in zip(relation.exprs, relation.ops, relation.exprs[1:]):
                link = _RELATION_CLASSES[op](
                    left.xreplace({variable: real}), right.xreplace({variable: real})
                )
                result = sympy.Intersection(result, sympy.solveset(link, real, sympy.Reals))
    except (StepTimeout, TypeError, ValueError, NotImplementedError, ArithmeticError, RecursionError):
        return None
    if isinstance(result, (sympy.ConditionSet, sympy.ImageSet)) or result.has(sympy.ConditionSet):
        return None
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


def set_pieces(value: sympy.Set) -> list[tuple[str, Any]] | None:
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


def assignments(value: Any) -> dict[str, Any] | None:
    """`x=1, y=2` as {"x": 1, "y": 2}; None unless every item is `variable = value`."""
    if not isinstance(value, Seq) or len(value.items) < 2:
        return None
    result: dict[str, Any] = {}
    for item in value.items:
        if not isinstance(item, Relation) or set(item.ops) != {"="}:
            return None
        lone, val = lone_name(item), equation_value(item)
        if lone is None or val is None or lone in result:
            return None
        result[lone] = val
    return result


def solution_groups(value: Any) -> Any:
    """`p=5, q=2; p=7, q=2` as the list of solutions `(5, 2), (7, 2)`; other values unchanged.

    Applies when every item is `variable = value` and the variables repeat in one fixed order.
    """
    if not isinstance(value, Seq) or value.kind != "list" or len(value.items) < 4:
        return value
    names = []
    for item in value.items:
        if not isinstance(item, Relation) or set(item.ops) != {"="} or equation_value(item) is None:
            return value
        names.append(lone_name(item))
    width = len(dict.fromkeys(names))
    if None in names or width < 2 or len(names) % width or names != names[:width] * (len(names) // width):
        return value
    values = [equation_value(item) for item in value.items]
    groups = [Seq(tuple(values[i : i + width]), "tuple", "(", ")") for i in range(0, len(values), width)]
    return Seq(tuple(groups), "list")


def scalar(value: Any) -> sympy.Expr | None:
    return value if isinstance(value, sympy.Expr) and not isinstance(value, sympy.MatrixBase) else None


def normal_relation(value: Any) -> Any:
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


def all_ops(value: Any, op: str) -> bool:
    return isinstance(value, Relation) and set(value.ops) == {op}


def is_name(value: Any) -> bool:
    """A variable-like left side: `x`, `f(x)`, `AB` (a product of letters), `A:B`, `|AB|` (a length),
    `(p, q)` (a tuple of names). Never a sum (`x + y = 1` relates unknowns, it states no value)."""
    if isinstance(value, (sympy.Symbol, AppliedUndef)):
        return True
    if isinstance(value, sympy.Abs):
        return is_name(value.args[0])
    if isinstance(value, sympy.Mul):
        return all(
            isinstance(f, sympy.Symbol)
            or (isinstance(f, sympy.Pow) and f.exp in (1, -1) and f.base.is_Symbol)
            for f in value.args
        )
    if isinstance(value, Seq) and value.kind == "tuple":
        return all(isinstance(item, (sympy.Symbol, AppliedUndef)) for item in value.items)
    return False


def lone_name(relation: Relation) -> str | None:
    """The variable an equation names; `y`, `f(x)`, `g(x)` all name the dependent variable."""
    for side in (relation.exprs[0], relation.exprs[-1]):
        if is_name(side):
            name = str(side)
            return "y" if name in _DEPENDENT_NAMES else name
    return None


_DEPENDENT_NAMES = frozenset({"y", "f(x)", "g(x)", "h(x)", "p(x)", "q(x)", "y(x)"})


def equation_value(relation: Relation) -> Any:
    """The value an equation states: `x = 5+5+1 = 11` -> 11, `11 = x` -> 11, `1/2 = 0.5` -> 0.5.

    None when the equation is a condition rather than a value (`a + 3z = 0`).
    """
    first, last = relation.exprs[0], relation.exprs[-1]
    if is_name(first) and not is_name(last):
        return last
    if is_name(last) and not is_name(first):
        return first
    numeric = [isinstance(e, sympy.Expr) and not e.free_symbols for e in relation.exprs]
    if numeric[-1] and (all(numeric) or any(is_name(e) for e in relation.exprs)):
        return last
    return None


def inequality_parts(relation: Relation) -> list[tuple[sympy.Expr, bool]] | None:
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
