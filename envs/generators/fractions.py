"""Fractions: sums, differences, products and quotients of fractions and mixed numbers, in lowest terms."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rlvr.envs.generators.base import Generator, Problem, format_fraction, pick
from rlvr.envs.generators.expressions import Expr, literal, random_expression

# level -> (operands, operators, largest denominator, mixed numbers)
_LEVELS = {
    1: (2, "+", 6, False),
    2: (2, "+-", 12, False),
    3: (3, "+-*/", 12, False),
    4: (3, "+-*/", 15, True),
    5: (4, "+-*/", 20, True),
}


class FractionsGenerator(Generator):
    """ "Compute 2/3 plus 5/8 times 1 1/4. Give the answer as a fraction in lowest terms." Answer "p/q"."""

    name = "fractions"

    def make(self, rng: np.random.Generator, level: int) -> Problem:
        operands, ops, largest, mixed = _LEVELS[level]

        def leaf(r: np.random.Generator) -> Expr:
            denominator = pick(r, 2, largest)
            numerator = pick(r, 1, denominator - 1)
            value = Fraction(numerator, denominator)
            if mixed and r.random() < 0.5:
                whole = pick(r, 1, 4)
                return literal(whole + value, f"{whole} {value.numerator}/{value.denominator}")
            return literal(value, f"{value.numerator}/{value.denominator}")

        while True:
            tree = random_expression(rng, operands, ops, leaf, exact_division=False, max_abs=Fraction(1000))
            if tree.value.denominator != 1 or level == 5:
                break  # an integer result is too easy to guess below the top level
        return Problem(
            prompt=f"Compute {tree.render()}. Give the answer as a fraction in lowest terms.",
            answer=format_fraction(tree.value),
            metadata={"expression": tree.render(python=True)},
        )
