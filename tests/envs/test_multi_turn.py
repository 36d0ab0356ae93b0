"""Multi-turn envs: CodeRepair feedback and per-turn rewards, Calculator tool calls in the sandbox,
the turn limit as Gymnasium's `max_episode_steps`."""

from __future__ import annotations

import gymnasium
import pytest
from gymnasium.wrappers import TimeLimit

from rlvr.envs import EnvConfigError
from rlvr.envs.calculator import CalculatorUnavailable
from rlvr.envs.client import InProcessVerifier
from rlvr.verifier.v1 import verifier_pb2 as pb

from .helpers import ENV_KWARGS, math_answer, program


def code_repair(**kwargs):
    return gymnasium.make("rlvr/CodeRepair-v0", **{**ENV_KWARGS["CodeRepair"], **kwargs})


def test_code_repair_feeds_back_failing_tests_and_rewards_each_turn():
    env = code_repair()
    env.reset(options={"task_index": 1})  # is_not_prime
    obs, reward, terminated, truncated, info = env.step(program("def is_not_prime(n):\n    return False"))
    assert (round(reward, 3), terminated, truncated) == (0.333, False, False)
    assert obs.startswith("Your program failed 2 of 3 tests:") and "is_not_prime(10) == True" in obs
    assert "ground_truth" not in info and info["turn"] == 1 and info["success"] is False
    obs, reward, terminated, truncated, info = env.step(program(env.unwrapped.task.metadata["solution"]))
    assert (obs, reward, terminated, truncated) == ("", 1.0, True, False)
    assert info["turn"] == 2 and info["success"] and info["ground_truth"]


def test_the_turn_limits_are_the_registered_max_episode_steps():
    assert gymnasium.spec("rlvr/CodeRepair-v0").max_episode_steps == 3
    assert gymnasium.spec("rlvr/Calculator-v0").max_episode_steps == 4
    assert gymnasium.spec("rlvr/Arithmetic-v0").max_episode_steps is None  # single-turn: no TimeLimit
    env = code_repair()
    assert isinstance(env, TimeLimit) and env.spec.max_episode_steps == 3
    assert code_repair(max_episode_steps=5).spec.max_episode_steps == 5


def test_time_limit_truncates_code_repair_and_the_sampler_counts_it_at_the_next_reset():
    env = code_repair(max_episode_steps=2, observation="chat", sampler="prioritized")
    env.reset(options={"task_index": 0})
    obs, *_ = env.step(program("print()"))
    assert [m["role"] for m in obs] == ["system", "user", "assistant", "user"]
    obs, reward, terminated, truncated, info = env.step(program("print()"))
    assert (reward, terminated, truncated, info["success"]) == (0.0, False, True, False)
    assert [m["role"] for m in obs][-2:] == ["assistant", "user"]  # the state it would continue from
    assert "ground_truth" not in info  # the env cannot see TimeLimit's cut
    sampler = env.unwrapped.sampler
    assert sampler.attempts.sum() == 0
    env.reset(options={"task_index": 1})
    assert sampler.attempts.tolist() == [1] and sampler.successes.tolist() == [0]  # failed, once
    env.reset(options={"task_index": 1})  # an episode without a step counts nothing
    assert sampler.attempts.tolist() == [1]


def test_max_turns_is_refused_with_the_max_episode_steps_it_became():
    with pytest.raises(EnvConfigError, match="max_episode_steps=2"):
        code_repair(max_turns=2)


def test_calculator_runs_the_expression_in_the_sandbox_then_scores_the_answer():
    env = gymnasium.make("rlvr/Calculator-v0", difficulty=2)
    env.reset(seed=1)
    task = env.unwrapped.task
    obs, reward, terminated, truncated, info = env.step(
        f"<calculator>{task.metadata['expression']}</calculator>"
    )
    assert obs == f"<result>{task.ground_truth}</result>" and (reward, terminated) == (0.0, False)
    assert info["status"] == "TOOL_CALL"
    obs, reward, terminated, truncated, info = env.step(math_answer(task.ground_truth))
    assert (reward, terminated, truncated, info["turn"]) == (1.0, True, False, 2)


def test_calculator_reports_errors_and_time_limit_truncates_an_episode_of_only_tool_calls():
    env = gymnasium.make("rlvr/Calculator-v0", max_episode_steps=2, observation="chat")
    env.reset(seed=0)
    obs, *_ = env.step("<calculator>1/0</calculator>")
    assert obs[-1] == {
        "role": "tool",
        "content": "<result>error: ZeroDivisionError: division by zero</result>",
    }
    _, reward, terminated, truncated, info = env.step(
        "<calculator>open('/etc/passwd').read()[:0] + 'x'</calculator>"
    )
    assert (reward, terminated, truncated, info["status"]) == (0.0, False, True, "TOOL_CALL")


def test_a_directly_built_env_takes_its_turn_limit_from_time_limit():
    from rlvr.envs.calculator import CalculatorEnv

    env = TimeLimit(CalculatorEnv(difficulty=1), max_episode_steps=1)
    env.reset(seed=0)
    assert env.step("<calculator>1 + 1</calculator>")[2:4] == (False, True)


class NoSandboxVerifier(InProcessVerifier):
    """A verifier whose machine has no sandbox: every calculator call is answered ERROR."""

    def verify_batch(self, requests):
        return [
            pb.VerifyResponse(id=r.id, status=pb.ERROR, message="calculator: no sandbox here")
            if r.verifier == "calculator"
            else super().verify_batch([r])[0]
            for r in requests
        ]


def test_a_calculator_that_cannot_run_raises_instead_of_answering_error_text():
    env = gymnasium.make("rlvr/Calculator-v0", verifier=NoSandboxVerifier()).unwrapped
    env.reset(seed=0)
    with pytest.raises(CalculatorUnavailable, match="no sandbox here"):
        env.step("<calculator>1 + 1</calculator>")
