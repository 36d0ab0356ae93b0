"""LinearEquations: one unknown, from `3x + 4 = 19` to equations with fractions on both sides."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rlvr.envs.generators.base import Generator, Problem, format_fraction, pick


def _term(coef: int, variable: str = "x") -> str:
    if coef == 1:
        return variable
    if coef == -1:
        return f"-{variable}"
    return f"{coef}{variable}"


def _plus(text: str, value: int) -> str:
    if value == 0:
        return text
    return f"{text} + {value}" if value > 0 else f"{text} - {-value}"


def _py(value: int) -> str:
    return f"({value})"


class LinearEquationsGenerator(Generator):
    """ "Solve for x: 3(x + 2) = 5(x - 4) + 6." The answer is exact: an integer, or p/q at levels 4-5."""

    name = "linear_equations"

    def make(self, rng: np.random.Generator, level: int) -> Problem:
        solution = (
            Fraction(pick(rng, -10 * level, 10 * level))
            if level <= 3
            else Fraction(pick(rng, -30, 30), pick(rng, 2, 9))
        )
        if level == 1:  # a x + b = c
            a, b = pick(rng, -9, 9, nonzero=True), pick(rng, -20, 20)
            c = a * solution + b
            shown, python = f"{_plus(_term(a), b)} = {c}", f"{_py(a)}*x + {_py(b)} - ({c})"
        elif level in (2, 4):  # a x + b = c x + d
            a = pick(rng, -12, 12, nonzero=True)
            c = pick(rng, -12, 12, nonzero=True)
            while c == a:
                c = pick(rng, -12, 12, nonzero=True)
            if level == 4:  # integer constants with a rational solution: scale by its denominator
                a, c = a * solution.denominator, c * solution.denominator
            b = pick(rng, -30, 30)
            d = a * solution + b - c * solution
            assert d.denominator == 1
            shown = f"{_plus(_term(a), b)} = {_plus(_term(c), int(d))}"
            python = f"{_py(a)}*x + {_py(b)} - ({_py(c)}*x + {d})"
        else:  # level 3 and 5: a(x + b) = c(x - d) + e, level 5 with x/k terms
            a = pick(rng, 2, 9) * (1 if rng.random() < 0.5 else -1)
            c = pick(rng, 2, 9)
            while c == a:
                c = pick(rng, 2, 9)
            b, d = pick(rng, -9, 9, nonzero=True), pick(rng, 1, 9)
            if level == 5:
                k = pick(rng, 2, 6)
                e = a * (solution / k + b) - c * (solution - d)
                shown = f"{a}(x/{k} {'+' if b > 0 else '-'} {abs(b)}) = {c}(x - {d}) {'+' if e >= 0 else '-'} {format_fraction(abs(e))}"
                python = f"{_py(a)}*(x/{k} + {_py(b)}) - ({c}*(x - {d}) + ({e.numerator}/{e.denominator}))"
            else:
                e = a * (solution + b) - c * (solution - d)
                shown = f"{a}(x {'+' if b > 0 else '-'} {abs(b)}) = {c}(x - {d}) {'+' if e >= 0 else '-'} {abs(e)}"
                python = f"{_py(a)}*(x + {_py(b)}) - ({c}*(x - {d}) + ({e}))"
        return Problem(
            prompt=f"Solve for x: {shown}",
            answer=format_fraction(solution),
            metadata={"equation_zero": python},
        )
