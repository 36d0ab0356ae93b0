"""Procedural envs: one `GeneratorEnv` subclass per task generator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rlvr.envs.base import TextEnv
from rlvr.envs.generators.arithmetic import ArithmeticGenerator
from rlvr.envs.generators.base import Generator
from rlvr.envs.generators.fractions import FractionsGenerator
from rlvr.envs.generators.linear_equations import LinearEquationsGenerator
from rlvr.envs.generators.polynomials import PolynomialsGenerator
from rlvr.envs.generators.units import UnitsGenerator
from rlvr.envs.generators.word_problems import WordProblemsGenerator
from rlvr.envs.samplers import CurriculumSampler
from rlvr.envs.sources import GeneratorSource

Difficulty = int | Sequence[int] | str | None


def difficulty_levels(generator: Generator, difficulty: Difficulty, sampler: Any) -> tuple[int, ...]:
    """The levels an env draws from: one level, several, "all"; None means level 1, or every level when
    the sampler is a curriculum (which needs levels to climb)."""
    if difficulty is None:
        curriculum = sampler == "curriculum" or isinstance(sampler, CurriculumSampler)
        return generator.levels if curriculum else (generator.levels[0],)
    if difficulty == "all":
        return generator.levels
    if isinstance(difficulty, int):
        return (difficulty,)
    return tuple(int(level) for level in difficulty)  # type: ignore[union-attr]


class GeneratorEnv(TextEnv):
    """A single-turn env over a procedural generator: unlimited, seeded, offline tasks.

    `difficulty`: a level (1..5), a list of levels, or "all". `num_tasks=N` turns the unlimited stream
    into a fixed pool of N tasks (the same for a given `pool_seed` on every machine), which per-task
    samplers (prioritized) need.
    """

    generator_class: ClassVar[type[Generator]]

    def __init__(
        self,
        *,
        difficulty: Difficulty = None,
        num_tasks: int | None = None,
        pool_seed: int = 0,
        sampler: Any = None,
        **kwargs: Any,
    ):
        generator = self.generator_class()
        levels = difficulty_levels(generator, difficulty, sampler)
        source = GeneratorSource(generator, levels, num_tasks=num_tasks, pool_seed=pool_seed)
        kwargs.setdefault("name", generator.name)
        super().__init__(source, sampler=sampler, **kwargs)


class ArithmeticEnv(GeneratorEnv):
    generator_class = ArithmeticGenerator


class WordProblemsEnv(GeneratorEnv):
    generator_class = WordProblemsGenerator


class FractionsEnv(GeneratorEnv):
    generator_class = FractionsGenerator


class LinearEquationsEnv(GeneratorEnv):
    generator_class = LinearEquationsGenerator


class PolynomialsEnv(GeneratorEnv):
    generator_class = PolynomialsGenerator


class UnitsEnv(GeneratorEnv):
    generator_class = UnitsGenerator
