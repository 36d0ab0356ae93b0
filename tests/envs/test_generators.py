"""Generator correctness: every ground truth re-derived independently with sympy; levels differ measurably."""

from __future__ import annotations

import re
from fractions import Fraction
from statistics import mean

import numpy as np
import pytest
import sympy
from sympy.physics import units as u

from rlvr.envs.format_only import FormatOnlyGenerator
from rlvr.envs.generators import (
    ArithmeticGenerator,
    DifficultyError,
    FractionsGenerator,
    Generator,
    LinearEquationsGenerator,
    PolynomialsGenerator,
    UnitsGenerator,
    WordProblemsGenerator,
)

X = sympy.Symbol("x")
PER_LEVEL = 12


def tasks(generator: Generator, level: int, count: int = PER_LEVEL, seed: int = 0):
    rng = np.random.default_rng([seed, level])
    return [generator.generate(rng, level) for _ in range(count)]


def as_rational(text: str) -> sympy.Rational:
    return sympy.Rational(text)


def roots_of(answer: str) -> list[sympy.Rational]:
    return [as_rational(part) for part in answer.split(", ")]


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_arithmetic_and_fractions_answers_match_sympy(level):
    for generator in (ArithmeticGenerator(), FractionsGenerator()):
        for task in tasks(generator, level):
            value = sympy.sympify(task.metadata["expression"], rational=True)
            assert value == as_rational(task.ground_truth), task.prompt
            # the prompt shows the same expression, with operators in words
            shown = task.prompt.removeprefix("Compute ").split(".")[0]
            shown = re.sub(r"(\d+ )?\d+/\d+", lambda m: f"({m.group(0)})", shown)  # a fraction is one number
            for word, op in (("divided by", "/"), ("plus", "+"), ("minus", "-"), ("times", "*")):
                shown = shown.replace(word, op)
            shown = re.sub(r"\((\d+) (\d+/\d+)\)", r"(\1 + \2)", shown)  # mixed numbers
            assert sympy.sympify(shown, rational=True) == value, task.prompt


def test_fraction_answers_are_in_lowest_terms():
    for level in (1, 2, 3, 4, 5):
        for task in tasks(FractionsGenerator(), level):
            if "/" in task.ground_truth:
                numerator, denominator = map(int, task.ground_truth.split("/"))
                assert sympy.gcd(numerator, denominator) == 1 and denominator > 1


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_word_problem_answers_solve_the_system_told_in_words(level):
    for task in tasks(WordProblemsGenerator(), level):
        # Re-read the system from the prompt text itself: "<name> buys 3 apples and 2 oranges for $13."
        sentences = re.findall(r"buys (.+?) for \$([\d.]+)\.", task.prompt)
        items = re.search(r"fixed: (.+?) cost the same", task.prompt).group(1)
        names = re.findall(r"every ([a-z ]+?)(?:,| and|$)", items)
        symbols = sympy.symbols(f"p0:{len(names)}")
        equations = []
        for basket, total in sentences:
            expression = 0
            for count, item in re.findall(r"(\d+) ([a-z ]+?)(?=,| and|$)", basket):
                index = next(i for i, n in enumerate(names) if item.startswith(n.split()[0]))
                expression += int(count) * symbols[index]
            equations.append(sympy.Eq(expression, sympy.Rational(total)))
        asked = re.search(r"does one ([a-z ]+?) cost", task.prompt).group(1)
        solution = sympy.solve(equations, symbols, dict=True)
        assert len(solution) == 1, task.prompt  # a unique solution
        assert solution[0][symbols[names.index(asked)]] == as_rational(task.ground_truth), task.prompt
        assert all(value > 0 for value in solution[0].values())


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_linear_equation_answers_are_the_unique_sympy_solution(level):
    for task in tasks(LinearEquationsGenerator(), level):
        solutions = sympy.solve(sympy.sympify(task.metadata["equation_zero"], rational=True), X)
        assert solutions == [as_rational(task.ground_truth)], task.prompt
        lhs, rhs = task.prompt.removeprefix("Solve for x: ").split(" = ")
        shown = [sympy.sympify(re.sub(r"(\d)(x|\()", r"\1*\2", side), rational=True) for side in (lhs, rhs)]
        assert sympy.solve(sympy.Eq(*shown), X) == solutions, task.prompt


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_polynomial_answers_match_sympy_roots_and_coefficients(level):
    for task in tasks(PolynomialsGenerator(), level):
        polynomial = sympy.sympify(task.metadata["polynomial"])
        if task.metadata["kind"] == "roots":
            expected = sorted(set(sympy.solve(polynomial, X)))
            assert roots_of(task.ground_truth) == expected, task.prompt
            shown = re.search(r"roots of (.+?) = 0", task.prompt).group(1)
            shown = re.sub(r"(\d)x", r"\1*x", shown).replace("^", "**")
            assert sympy.expand(sympy.sympify(shown) - polynomial) == 0
        else:
            coefficient = sympy.Poly(sympy.expand(polynomial), X).coeff_monomial(X ** task.metadata["power"])
            assert coefficient == int(task.ground_truth), task.prompt


_SYMPY_UNITS = {
    "mm": u.millimeter, "cm": u.centimeter, "m": u.meter, "km": u.kilometer, "in": u.inch, "ft": u.foot,
    "yd": u.yard, "mi": u.mile, "mg": u.milligram, "g": u.gram, "kg": u.kilogram, "lb": u.pound,
    "s": u.second, "min": u.minute, "h": u.hour, "day": u.day, "mL": u.milliliter, "L": u.liter,
    "km/h": u.kilometer / u.hour, "m/s": u.meter / u.second, "mi/h": u.mile / u.hour, "ft/s": u.foot / u.second,
}  # fmt: skip


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_unit_answers_match_sympy_physics_units(level):
    for task in tasks(UnitsGenerator(), level):
        meta = task.metadata
        source, target = _SYMPY_UNITS[meta["from"]], _SYMPY_UNITS[meta["to"]]
        converted = u.convert_to(sympy.Rational(meta["value"]) * source, target)
        assert sympy.simplify(converted / target) == as_rational(task.ground_truth), task.prompt


def test_same_rng_state_gives_the_same_task_and_draws_differ():
    for generator in (
        ArithmeticGenerator(),
        WordProblemsGenerator(),
        PolynomialsGenerator(),
        UnitsGenerator(),
    ):
        first = [t.prompt for t in tasks(generator, 3, 20, seed=7)]
        assert first == [t.prompt for t in tasks(generator, 3, 20, seed=7)]
        assert len(set(first)) >= 18, generator.name


def _mean(generator: Generator, level: int, measure) -> float:
    return mean(measure(task) for task in tasks(generator, level, 40))


def _digits(text: str) -> int:
    return len(re.findall(r"\d", text))


@pytest.mark.parametrize(
    ("generator", "measure"),
    [
        (ArithmeticGenerator(), lambda t: _digits(t.metadata["expression"])),
        (FractionsGenerator(), lambda t: _digits(t.prompt.split(".")[0])),
        (WordProblemsGenerator(), lambda t: len(t.metadata["counts"]) * 100 + _digits(t.prompt)),
        (LinearEquationsGenerator(), lambda t: len(t.prompt) + 20 * ("/" in t.ground_truth)),
        (UnitsGenerator(), lambda t: _digits(t.ground_truth)),
        (FormatOnlyGenerator(), lambda t: len(t.metadata["tags"]) + t.metadata["boxed"]),
    ],
    ids=lambda g: getattr(g, "name", ""),
)
def test_difficulty_levels_differ_measurably(generator, measure):
    means = [_mean(generator, level, measure) for level in (1, 3, 5)]
    assert means[0] < means[1] < means[2], means


def test_polynomial_levels_grow_in_degree_or_coefficient_size():
    generator = PolynomialsGenerator()

    def size(task) -> float:
        polynomial = sympy.Poly(sympy.expand(sympy.sympify(task.metadata["polynomial"])), X)
        return polynomial.degree() + max(abs(c) for c in polynomial.all_coeffs()) / 1000

    means = [_mean(generator, level, size) for level in (1, 3, 4)]
    assert means[0] < means[1] < means[2], means


def test_unknown_level_is_refused_with_the_levels_named():
    with pytest.raises(DifficultyError, match=r"\(1, 2, 3, 4, 5\)"):
        ArithmeticGenerator().generate(np.random.default_rng(0), 9)


def test_exact_numbers_are_written_exactly():
    from rlvr.envs.generators.base import format_number

    assert [format_number(Fraction(v)) for v in ("3", "9/4", "1/3", "-7/20")] == ["3", "2.25", "1/3", "-0.35"]
