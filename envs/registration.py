"""Registers every rlvr env with Gymnasium as `rlvr/<Name>-v0` (run on `import rlvr.envs`)."""

from __future__ import annotations

import functools

import gymnasium

from rlvr.envs.vector import make_vector

#: id suffix -> "module:Class" of the env (imported by gymnasium.make on first use).
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

#: The multi-turn envs' turn limits, registered as `max_episode_steps` (Gymnasium's TimeLimit).
TURN_LIMITS: dict[str, int] = {"CodeRepair": 3, "Calculator": 4}


def env_id(name: str) -> str:
    return f"rlvr/{name}-v0"


def register_envs() -> None:
    """Register every id in ENVS (idempotent: already registered ids are left alone).

    Each spec has the env class as `entry_point`, `make_vector` bound to the id as
    `vector_entry_point` (`gymnasium.make_vec` builds a `TextVectorEnv`), the turn limit of
    multi-turn envs as `max_episode_steps`, and Gymnasium's passive env checker on.
    """
    for name, entry_point in ENVS.items():
        if env_id(name) in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id(name),
            entry_point=entry_point,
            vector_entry_point=functools.partial(make_vector, env_id(name)),
            max_episode_steps=TURN_LIMITS.get(name),
        )
