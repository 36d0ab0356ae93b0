"""Registers every rlvr env with Gymnasium as `rlvr/<Name>-v0` (run on `import rlvr.envs`)."""

from __future__ import annotations

import functools

import gymnasium

from rlvr.envs.vector import make_vector

#: id suffix -> "module:Class" of the env (imported lazily by gymnasium.make).
ENVS: dict[str, str] = {
    "Arithmetic": "rlvr.envs.procedural:ArithmeticEnv",
    "WordProblems": "rlvr.envs.procedural:WordProblemsEnv",
    "Fractions": "rlvr.envs.procedural:FractionsEnv",
    "LinearEquations": "rlvr.envs.procedural:LinearEquationsEnv",
    "Polynomials": "rlvr.envs.procedural:PolynomialsEnv",
    "Units": "rlvr.envs.procedural:UnitsEnv",
    "FormatOnly": "rlvr.envs.format_only:FormatOnlyEnv",
    "GSM8K": "rlvr.envs.dataset_envs:GSM8KEnv",
    "MATH": "rlvr.envs.dataset_envs:MATHEnv",
    "HumanEval": "rlvr.envs.dataset_envs:HumanEvalEnv",
    "MBPP": "rlvr.envs.dataset_envs:MBPPEnv",
    "CodeContests": "rlvr.envs.dataset_envs:CodeContestsEnv",
    "CodeRepair": "rlvr.envs.code_repair:CodeRepairEnv",
    "Calculator": "rlvr.envs.calculator:CalculatorEnv",
    "ReasoningGym": "rlvr.envs.reasoning_gym:ReasoningGymEnv",
}


def env_id(name: str) -> str:
    return f"rlvr/{name}-v0"


def _load(entry_point: str):
    module, _, attr = entry_point.partition(":")
    import importlib

    return getattr(importlib.import_module(module), attr)


def _vector_entry(entry_point: str, num_envs: int, **kwargs):
    return make_vector(_load(entry_point), num_envs, **kwargs)


def register_envs() -> None:
    """Register every id in ENVS (idempotent: already registered ids are left alone)."""
    for name, entry_point in ENVS.items():
        if env_id(name) in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id(name),
            entry_point=entry_point,
            vector_entry_point=functools.partial(_vector_entry, entry_point),
            disable_env_checker=True,
        )
