"""`Generator`: the interface of the procedural task generators."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from rlvr.envs.task import Task, content_id
from rlvr.errors import RlvrError


class DifficultyError(RlvrError, ValueError):
    """A difficulty level outside a generator's levels."""

    def __init__(self, generator: str, level: object, levels: tuple[int, ...]):
        super().__init__(f"{generator}: difficulty {level!r} is not one of its levels {levels}")
        self.level = level


@dataclass(frozen=True)
class Problem:
    """What a generator makes: the question, its exact answer (as the verifier's ground truth), the
    parameters an independent checker needs (`metadata`, e.g. the expression in sympy syntax), and
    per-task verifier options."""

    prompt: str
    answer: str
    metadata: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


class Generator(ABC):
    """Makes tasks from a numpy `Generator` at a difficulty level; the same rng state gives the same task."""

    name: ClassVar[str]
    levels: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5)

    def check_level(self, level: int) -> None:
        if level not in self.levels:
            raise DifficultyError(self.name, level, self.levels)

    def generate(self, rng: np.random.Generator, level: int) -> Task:
        """A task at `level`, drawn from `rng`; its id hashes the prompt, so equal tasks share an id."""
        self.check_level(level)
        problem = self.make(rng, level)
        return Task(
            id=content_id(self.name, problem.prompt),
            prompt=problem.prompt,
            ground_truth=problem.answer,
            difficulty=level,
            metadata=problem.metadata,
            options=problem.options,
        )

    @abstractmethod
    def make(self, rng: np.random.Generator, level: int) -> Problem:
        """One problem at `level` (already checked)."""


def pick(rng: np.random.Generator, low: int, high: int, *, nonzero: bool = False) -> int:
    """A uniform integer in [low, high], optionally never 0."""
    while True:
        value = int(rng.integers(low, high + 1))
        if value or not nonzero:
            return value


def format_number(value: Fraction) -> str:
    """Exact text of a rational: "3", "-2/7", or a terminating decimal "2.25" when the denominator allows."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        digits = 0
        while (value * 10**digits).denominator != 1:
            digits += 1
        return f"{float(value):.{digits}f}" if digits <= 12 else f"{value.numerator}/{value.denominator}"
    return f"{value.numerator}/{value.denominator}"


def format_fraction(value: Fraction) -> str:
    """A rational as "p/q" (or an integer): fractions are never written as decimals here."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
