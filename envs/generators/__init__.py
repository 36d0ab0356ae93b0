"""Procedural task generators: seeded, with difficulty levels, unlimited and offline."""

from rlvr.envs.generators.arithmetic import ArithmeticGenerator
from rlvr.envs.generators.base import DifficultyError, Generator, Problem
from rlvr.envs.generators.fractions import FractionsGenerator
from rlvr.envs.generators.linear_equations import LinearEquationsGenerator
from rlvr.envs.generators.polynomials import PolynomialsGenerator
from rlvr.envs.generators.units import UnitsGenerator
from rlvr.envs.generators.word_problems import WordProblemsGenerator

__all__ = [
    "ArithmeticGenerator",
    "DifficultyError",
    "FractionsGenerator",
    "Generator",
    "LinearEquationsGenerator",
    "PolynomialsGenerator",
    "Problem",
    "UnitsGenerator",
    "WordProblemsGenerator",
]
