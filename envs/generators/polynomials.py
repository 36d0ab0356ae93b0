"""Polynomials: real roots of polynomials with rational roots, and coefficients of expanded products."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rlvr.envs.generators.base import Generator, Problem, format_fraction, pick

Poly = list[int]  # coefficients, constant term first


def multiply(p: Poly, q: Poly) -> Poly:
    """The product of two integer polynomials."""
    out = [0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def render(p: Poly, python: bool = False) -> str:
    """`x^3 - 2x^2 + 5` (or `x**3 - 2*x**2 + 5` with `python=True`), highest power first."""
    parts: list[str] = []
    for power in range(len(p) - 1, -1, -1):
        coef = p[power]
        if coef == 0:
            continue
        sign = "-" if coef < 0 else "+"
        size = abs(coef)
        if power == 0:
            body = str(size)
        else:
            var = "x" if power == 1 else (f"x**{power}" if python else f"x^{power}")
            body = var if size == 1 else (f"{size}*{var}" if python else f"{size}{var}")
        parts.append(f"{sign} {body}")
    text = " ".join(parts) if parts else "+ 0"
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def _factor(rng: np.random.Generator, lead: int, low: int, high: int) -> tuple[Poly, Fraction]:
    """(lead·x − root·lead) with an integer root in [low, high]: returns the factor and its root."""
    root = pick(rng, low, high)
    return [-root * lead, lead], Fraction(root)


class PolynomialsGenerator(Generator):
    """Levels: 1 roots of a monic quadratic, 2 a coefficient of (x+a)(x+b)(x+c), 3 roots of a cubic,
    4 a coefficient of (ax+b)^n, 5 roots of a non-monic quadratic or cubic with rational roots.

    Root answers are the distinct real roots in increasing order, comma separated; coefficient
    answers are an integer (so copying the product from the prompt is never the answer).
    """

    name = "polynomials"

    def make(self, rng: np.random.Generator, level: int) -> Problem:
        if level in (2, 4):
            return self._coefficient(rng, level)
        if level == 1:
            roots = [Fraction(pick(rng, -9, 9)) for _ in range(2)]
            poly = multiply([-int(roots[0]), 1], [-int(roots[1]), 1])
        elif level == 3:
            roots = [Fraction(pick(rng, -6, 6)) for _ in range(3)]
            poly = [1]
            for root in roots:
                poly = multiply(poly, [-int(root), 1])
        else:
            degree = 2 if rng.random() < 0.5 else 3
            poly, roots = [1], []
            for _ in range(degree):
                denominator, numerator = pick(rng, 1, 5), pick(rng, -12, 12)
                root = Fraction(numerator, denominator)
                poly = multiply(poly, [-root.numerator, root.denominator])
                roots.append(root)
            if poly[-1] < 0:
                poly = [-c for c in poly]
        distinct = sorted(set(roots))
        return Problem(
            prompt=(
                f"Find all real roots of {render(poly)} = 0. List each distinct root once, "
                "in increasing order, separated by commas."
            ),
            answer=", ".join(format_fraction(r) for r in distinct),
            metadata={"polynomial": render(poly, python=True), "kind": "roots"},
        )

    def _coefficient(self, rng: np.random.Generator, level: int) -> Problem:
        if level == 2:
            factors = [[pick(rng, -9, 9, nonzero=True), 1] for _ in range(3)]
            shown = "".join(f"({render(f)})" for f in factors)
            product: Poly = [1]
            for factor in factors:
                product = multiply(product, factor)
            python = "*".join(f"({render(f, python=True)})" for f in factors)
        else:
            a, b, n = pick(rng, 2, 5), pick(rng, -6, 6, nonzero=True), pick(rng, 4, 7)
            base = [b, a]
            shown = f"({render(base)})^{n}"
            product = [1]
            for _ in range(n):
                product = multiply(product, base)
            python = f"({render(base, python=True)})**{n}"
        power = pick(rng, 1, len(product) - 2)
        return Problem(
            prompt=f"Expand {shown}. What is the coefficient of {'x' if power == 1 else f'x^{power}'}? Give the number only.",
            answer=str(product[power]),
            metadata={"polynomial": python, "power": power, "kind": "coefficient"},
        )
