"""Random arithmetic expression trees with exact values, shared by the Arithmetic and Fractions generators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
# Operators are written as words in prompts: "(3 plus 4) times 5" reads naturally, and a completion that
# just copies it is not a formula a math verifier evaluates to the answer.
_SHOWN = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}


@dataclass(frozen=True)
class Expr:
    """A node: a literal (`op` is None) or `left op right`. `value` is exact."""

    value: Fraction
    op: str | None = None
    left: Expr | None = None
    right: Expr | None = None
    literal: str = ""  # how a literal is written (e.g. "2 1/3" for a mixed number)

    def render(self, python: bool = False) -> str:
        """Prompt text (operators in words, minimal parentheses) or Python/sympy syntax (`python=True`)."""
        if self.op is None:
            if python:
                return (
                    f"({self.value.numerator}/{self.value.denominator})"
                    if self.value.denominator != 1
                    else (f"({self.value.numerator})" if self.value < 0 else str(self.value.numerator))
                )
            return f"({self.literal})" if self.value < 0 else self.literal
        assert self.left is not None and self.right is not None
        left, right = self.left.render(python), self.right.render(python)
        if self.left.op is not None and _PRECEDENCE[self.left.op] < _PRECEDENCE[self.op]:
            left = f"({left})"
        if self.right.op is not None and (
            _PRECEDENCE[self.right.op] < _PRECEDENCE[self.op]
            or (_PRECEDENCE[self.right.op] == _PRECEDENCE[self.op] and self.op in "-/")
        ):
            right = f"({right})"
        return f"{left} {self.op if python else _SHOWN[self.op]} {right}"


def literal(value: Fraction, text: str | None = None) -> Expr:
    return Expr(value, literal=text if text is not None else _plain(value))


def _plain(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def random_expression(
    rng: np.random.Generator,
    operands: int,
    ops: str,
    leaf: Callable[[np.random.Generator], Expr],
    *,
    exact_division: bool,
    max_abs: Fraction | None = None,
) -> Expr:
    """A random tree of `operands` leaves joined by operators from `ops`.

    With `exact_division`, a "/" node's dividend is a fresh literal chosen as a multiple of the divisor, so
    every value stays an integer when the leaves are integers. Division by zero is never produced, and
    trees whose intermediate values exceed `max_abs` are redrawn.
    """
    while True:
        tree = _grow(rng, operands, ops, leaf, exact_division)
        if tree is not None and (max_abs is None or _within(tree, max_abs)):
            return tree


def _within(node: Expr, bound: Fraction) -> bool:
    if abs(node.value) > bound:
        return False
    return node.op is None or (_within(node.left, bound) and _within(node.right, bound))  # type: ignore[arg-type]


def _grow(rng: np.random.Generator, operands: int, ops: str, leaf, exact_division: bool) -> Expr | None:
    if operands == 1:
        return leaf(rng)
    split = int(rng.integers(1, operands))
    op = ops[int(rng.integers(len(ops)))]
    right = _grow(rng, operands - split, ops, leaf, exact_division)
    if right is None:
        return None
    if op == "/":
        if right.value == 0:
            return None
        if exact_division:
            dividend = literal(leaf(rng).value * right.value)
            return Expr(dividend.value / right.value, "/", dividend, right)
    left = _grow(rng, split, ops, leaf, exact_division)
    if left is None:
        return None
    value = {
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
    }[op](left.value, right.value)
    return Expr(value, op, left, right)
