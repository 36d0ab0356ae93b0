"""Arithmetic: integer expressions with + − × ÷, longer and larger with each level."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rlvr.envs.generators.base import Generator, Problem, pick
from rlvr.envs.generators.expressions import literal, random_expression

# level -> (operands, operators, largest literal, negative literals allowed)
_LEVELS = {
    1: (2, "+-", 20, False),
    2: (3, "+-*", 50, False),
    3: (4, "+-*/", 100, False),
    4: (5, "+-*/", 500, True),
    5: (7, "+-*/", 1000, True),
}


class ArithmeticGenerator(Generator):
    """ "Compute 17 × (4 + 9) − 6." Exact integer answers (division always comes out even)."""

    name = "arithmetic"

    def make(self, rng: np.random.Generator, level: int) -> Problem:
        operands, ops, largest, negatives = _LEVELS[level]

        def leaf(r: np.random.Generator):
            low = -largest if negatives else 1
            return literal(Fraction(pick(r, low, largest, nonzero=True)))

        tree = random_expression(rng, operands, ops, leaf, exact_division=True, max_abs=Fraction(10**7))
        text = tree.render()
        return Problem(
            prompt=f"Compute {text}.",
            answer=str(tree.value.numerator),
            metadata={"expression": tree.render(python=True)},
        )
