"""Multi-turn envs: CodeRepair feedback and per-turn rewards, Calculator tool calls in the sandbox."""

from __future__ import annotations

import gymnasium
import pytest

from rlvr.envs.calculator import CalculatorUnavailable
from rlvr.envs.client import InProcessVerifier
from rlvr.verifier.v1 import verifier_pb2 as pb

from .helpers import ENV_KWARGS, math_answer, program


def code_repair(**kwargs):
    return gymnasium.make("rlvr/CodeRepair-v0", **{**ENV_KWARGS["CodeRepair"], **kwargs}).unwrapped


def test_code_repair_feeds_back_failing_tests_and_rewards_each_turn():
    env = code_repair(max_turns=3)
    env.reset(options={"task_index": 1})  # is_not_prime
    obs, reward, terminated, truncated, info = env.step(program("def is_not_prime(n):\n    return False"))
    assert (round(reward, 3), terminated, truncated) == (0.333, False, False)
    assert obs.startswith("Your program failed 2 of 3 tests:") and "is_not_prime(10) == True" in obs
    assert "ground_truth" not in info and info["turn"] == 1
    obs, reward, terminated, truncated, info = env.step(program(env.task.metadata["solution"]))
    assert (obs, reward, terminated, truncated) == ("", 1.0, True, False)
    assert info["turn"] == 2 and info["success"] and info["ground_truth"]


def test_code_repair_is_truncated_after_max_turns():
    env = code_repair(max_turns=2, observation="chat")
    env.reset(options={"task_index": 0})
    obs, *_ = env.step(program("print()"))
    assert [m["role"] for m in obs] == ["system", "user", "assistant", "user"]
    obs, reward, terminated, truncated, info = env.step(program("print()"))
    assert (reward, terminated, truncated, info["success"]) == (0.0, False, True, False)
    assert [m["role"] for m in obs][-1] == "assistant"


def test_calculator_runs_the_expression_in_the_sandbox_then_scores_the_answer():
    env = gymnasium.make("rlvr/Calculator-v0", difficulty=2).unwrapped
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(
        f"<calculator>{env.task.metadata['expression']}</calculator>"
    )
    assert obs == f"<result>{env.task.ground_truth}</result>" and (reward, terminated) == (0.0, False)
    assert info["status"] == "TOOL_CALL"
    obs, reward, terminated, truncated, info = env.step(math_answer(env.task.ground_truth))
    assert (reward, terminated, info["turn"]) == (1.0, True, 2)


def test_calculator_reports_errors_and_truncates_an_episode_of_only_tool_calls():
    env = gymnasium.make("rlvr/Calculator-v0", max_turns=2, observation="chat").unwrapped
    env.reset(seed=0)
    obs, *_ = env.step("<calculator>1/0</calculator>")
    assert obs[-1] == {
        "role": "tool",
        "content": "<result>error: ZeroDivisionError: division by zero</result>",
    }
    _, reward, terminated, truncated, info = env.step(
        "<calculator>open('/etc/passwd').read()[:0] + 'x'</calculator>"
    )
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["ground_truth"] == env.task.ground_truth


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
