"""Gymnasium text environments whose rewards come from the rlvr verifiers.

`import rlvr.envs` registers every env as `rlvr/<Name>-v0`:

    import gymnasium, rlvr.envs
    env = gymnasium.make("rlvr/WordProblems-v0", difficulty=2)
    prompt, info = env.reset(seed=0)
    prompt, reward, terminated, truncated, info = env.step("<think>…</think><answer>3</answer>")
"""

from rlvr.envs.base import EnvConfigError, InvalidAction, MultiTurnEnv, TextEnv
from rlvr.envs.client import InProcessVerifier, RemoteVerifier, VerifierClient, make_verifier
from rlvr.envs.registration import ENVS, TURN_LIMITS, env_id, register_envs
from rlvr.envs.rewards import CODE_SYSTEM_PROMPT, R1_SYSTEM_PROMPT, default_spec
from rlvr.envs.samplers import CurriculumSampler, PrioritizedSampler, Sampler, SamplerError, UniformSampler
from rlvr.envs.sources import DatasetSource, GeneratorSource, TaskKey, TaskSource
from rlvr.envs.spaces import AnyText, chat_space
from rlvr.envs.task import Task
from rlvr.envs.vector import TextVectorEnv, make_vector
from rlvr.envs.wrappers import UnknownRewardsAsNaN

register_envs()

__all__ = [
    "CODE_SYSTEM_PROMPT",
    "ENVS",
    "R1_SYSTEM_PROMPT",
    "AnyText",
    "CurriculumSampler",
    "DatasetSource",
    "EnvConfigError",
    "GeneratorSource",
    "InProcessVerifier",
    "InvalidAction",
    "MultiTurnEnv",
    "PrioritizedSampler",
    "RemoteVerifier",
    "Sampler",
    "SamplerError",
    "Task",
    "TaskKey",
    "TaskSource",
    "TextEnv",
    "TURN_LIMITS",
    "TextVectorEnv",
    "UniformSampler",
    "UnknownRewardsAsNaN",
    "VerifierClient",
    "chat_space",
    "default_spec",
    "env_id",
    "make_vector",
    "make_verifier",
    "register_envs",
]
