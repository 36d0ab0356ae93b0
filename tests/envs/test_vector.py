"""TextVectorEnv: one verify_batch per step, GRPO groups sharing a prompt and a group id, same-step autoreset."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from rlvr.envs import EnvConfigError, TextVectorEnv, UnknownRewardsAsNaN
from rlvr.envs.client import InProcessVerifier
from rlvr.envs.procedural import ArithmeticEnv
from rlvr.verifier.v1 import verifier_pb2 as pb

from .helpers import math_answer


class CountingVerifier(InProcessVerifier):
    """The in-process verifier, counting its calls and remembering the last batch."""

    def __init__(self):
        self.calls = 0
        self.batches: list[list] = []

    def verify_batch(self, requests):
        self.calls += 1
        self.batches.append(list(requests))
        return super().verify_batch(requests)


def answers(vec: TextVectorEnv) -> list[str]:
    return [math_answer(env.task.ground_truth) for env in vec.envs]


def test_step_scores_every_completion_in_one_verify_batch():
    client = CountingVerifier()
    vec = TextVectorEnv([lambda: ArithmeticEnv(verifier=client)] * 6)
    vec.reset(seed=0)
    completions = answers(vec)
    completions[2] = math_answer("not a number")
    _, rewards, terminated, truncated, info = vec.step(completions)
    assert client.calls == 1 and len(client.batches[0]) == 6
    assert rewards.tolist() == [1, 1, 0, 1, 1, 1]
    assert terminated.all() and not truncated.any()
    assert info["final_info"]["status"].tolist() == ["CORRECT"] * 2 + ["INCORRECT"] + ["CORRECT"] * 3


def test_make_vec_builds_grpo_groups_sharing_the_prompt_and_a_group_id():
    vec = gymnasium.make_vec("rlvr/WordProblems-v0", num_envs=6, group_size=3, difficulty=2)
    assert isinstance(vec, TextVectorEnv) and vec.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, info = vec.reset(seed=4)
    assert obs[0] == obs[1] == obs[2] != obs[3] == obs[4] == obs[5]
    groups = info["group_id"].tolist()
    assert groups[0] == groups[1] == groups[2] != groups[3] == groups[4] == groups[5]
    client = CountingVerifier()
    vec.verifier = client
    obs2, *_, info2 = vec.step(answers(vec))
    assert {r.group_id for r in client.batches[0][:3]} == {groups[0]}
    assert [r.group_size for r in client.batches[0]] == [3] * 6  # every member states its group's size
    # same-step autoreset: new groups, new ids, final results kept apart
    assert obs2[0] == obs2[1] == obs2[2] and info2["group_id"][0] not in groups
    assert info2["_final_info"].all() and info2["final_info"]["success"].all()


def test_group_relative_length_reward_sees_the_whole_group_in_the_batch():
    spec = {
        "name": "kimi",
        "terms": [
            {"name": "accuracy", "verifier": "math", "weight": 1.0},
            {"name": "length", "verifier": "kimi_length", "weight": 1.0},
        ],
    }
    vec = gymnasium.make_vec("rlvr/Arithmetic-v0", num_envs=3, group_size=3, reward_spec=spec)
    vec.reset(seed=0)
    answer = vec.envs[0].task.ground_truth
    short, long = (
        f"<answer>{answer}</answer>",
        "<think>" + "let me think " * 40 + f"</think><answer>{answer}</answer>",
    )
    _, rewards, *_ = vec.step([short, long, long])
    assert rewards[0] > rewards[1] == rewards[2]  # shorter correct answer rewarded within the group


KIMI_SPEC = {
    "name": "kimi",
    "terms": [
        {"name": "accuracy", "verifier": "math", "weight": 1.0},
        {"name": "length", "verifier": "kimi_length", "weight": 1.0},
    ],
}


def test_a_partial_group_is_never_scored_by_group_terms():
    # One member calls the calculator while the other answers: the answer's batch holds 1 of the 2
    # members, so its group term must not be computed from that one member.
    vec = gymnasium.make_vec(
        "rlvr/Calculator-v0", num_envs=2, group_size=2, difficulty=1, reward_spec=KIMI_SPEC
    )
    vec.reset(seed=0)
    answer = math_answer(vec.envs[0].task.ground_truth)
    _, rewards, terminated, _, info = vec.step([answer, "<calculator>2 + 3</calculator>"])
    assert terminated.tolist() == [True, False]
    assert (
        info["final_info"]["status"][0] == "INVALID_REQUEST"
        and "1 of the 2" in info["final_info"]["message"][0]
    )
    assert info["reward_known"].tolist() == [False, True] and info["final_info"]["success"][0] is None


def test_reset_seed_reproduces_every_group_task():
    vec = gymnasium.make_vec("rlvr/Polynomials-v0", num_envs=4, group_size=2)
    first, _ = vec.reset(seed=9)
    vec.step(["x"] * 4)
    again, _ = vec.reset(seed=9)
    assert first == again


def test_a_finished_group_member_waits_for_the_rest_of_its_group():
    vec = gymnasium.make_vec("rlvr/Calculator-v0", num_envs=2, group_size=2, difficulty=1)
    vec.reset(seed=0)
    answer = math_answer(vec.envs[0].task.ground_truth)
    obs, rewards, terminated, truncated, info = vec.step([answer, "<calculator>2 + 3</calculator>"])
    assert terminated.tolist() == [True, False] and obs[1] == "<result>5</result>"
    assert info["waiting"].tolist() == [False, False] and rewards.tolist() == [1.0, 0.0]
    obs, rewards, terminated, truncated, info = vec.step(["ignored", answer])
    assert info["waiting"].tolist() == [True, False] and rewards.tolist() == [0.0, 1.0]
    assert info["_final_info"].tolist() == [False, True]
    assert obs[0] == obs[1] and "User:" in obs[0]  # the group restarted together on a new task


def test_tool_calls_and_answers_of_a_step_go_in_one_verify_batch():
    client = CountingVerifier()
    vec = gymnasium.make_vec("rlvr/Calculator-v0", num_envs=3, group_size=3, difficulty=1, verifier=client)
    vec.reset(seed=0)
    answer = math_answer(vec.envs[0].task.ground_truth)
    obs, rewards, terminated, _, info = vec.step(
        ["<calculator>2 + 3</calculator>", answer, "<calculator>1/0</calculator>"]
    )
    assert client.calls == 1 and [r.verifier for r in client.batches[0]] == ["calculator", "", "calculator"]
    assert not client.batches[0][0].group_id and not client.batches[0][0].HasField("reward_spec")
    assert (obs[0], obs[2]) == (
        "<result>5</result>",
        "<result>error: ZeroDivisionError: division by zero</result>",
    )
    assert rewards.tolist() == [0.0, 1.0, 0.0] and terminated.tolist() == [False, True, False]
    assert info["reward_known"].all()  # a tool turn's 0 is not an unknown reward


def test_vector_env_arguments_are_checked():
    with pytest.raises(EnvConfigError, match="divide"):
        gymnasium.make_vec("rlvr/Arithmetic-v0", num_envs=5, group_size=2)
    vec = gymnasium.make_vec("rlvr/Arithmetic-v0", num_envs=2)
    vec.reset(seed=0)
    with pytest.raises(EnvConfigError, match="2 envs"):
        vec.step(["only one"])
    assert isinstance(vec.step(["1", "2"])[1], np.ndarray)


def test_gymnasiums_own_sync_vectorization_also_works():
    vec = gymnasium.make_vec("rlvr/Arithmetic-v0", num_envs=2, vectorization_mode="sync")
    obs, _ = vec.reset(seed=0)
    assert isinstance(obs, tuple) and len(obs) == 2
    answers = [math_answer(env.unwrapped.task.ground_truth) for env in vec.envs]
    _, rewards, terminated, _, _ = vec.step(answers)
    assert rewards.tolist() == [1.0, 1.0] and terminated.all()
    calculators = gymnasium.make_vec("rlvr/Calculator-v0", num_envs=2, vectorization_mode="sync")
    assert [env.spec.max_episode_steps for env in calculators.envs] == [4, 4]  # each a TimeLimit


def test_the_registered_turn_limit_truncates_with_a_complete_final_info():
    vec = gymnasium.make_vec("rlvr/Calculator-v0", num_envs=2, group_size=2, difficulty=1)
    assert vec.max_episode_steps == 4 and vec.spec.max_episode_steps == 4
    vec = gymnasium.make_vec(
        "rlvr/Calculator-v0", num_envs=2, group_size=2, difficulty=1, max_episode_steps=2
    )
    vec.reset(seed=0)
    answer = math_answer(vec.envs[0].task.ground_truth)
    tasks = [env.task for env in vec.envs]
    _, _, terminated, truncated, _ = vec.step([answer, "<calculator>2 + 3</calculator>"])
    assert terminated.tolist() == [True, False] and not truncated.any()
    _, rewards, terminated, truncated, info = vec.step(["ignored", "<calculator>2 * 3</calculator>"])
    assert truncated.tolist() == [False, True] and not terminated.any()
    assert info["_final_info"].tolist() == [False, True] and rewards.tolist() == [0.0, 0.0]
    final = info["final_info"]
    assert (
        final["ground_truth"][1] == tasks[1].ground_truth and final["_success"][1] and not final["success"][1]
    )
    assert info["final_obs"][1] == "<result>6</result>"  # the state it would continue from


def test_time_limit_semantics_truncate_on_the_last_turn_even_when_it_terminates():
    vec = gymnasium.make_vec("rlvr/Calculator-v0", num_envs=1, difficulty=1, max_episode_steps=1)
    vec.reset(seed=0)
    _, rewards, terminated, truncated, _ = vec.step([math_answer(vec.envs[0].task.ground_truth)])
    assert (rewards[0], terminated[0], truncated[0]) == (1.0, True, True)  # as gymnasium's TimeLimit
    with pytest.raises(EnvConfigError, match="max_episode_steps=0"):
        gymnasium.make_vec("rlvr/Calculator-v0", num_envs=1, max_episode_steps=0)


def test_call_get_attr_and_set_attr_reach_the_sub_envs():
    vec = gymnasium.make_vec("rlvr/Arithmetic-v0", num_envs=2, system_prompt="")
    vec.reset(seed=0)
    assert vec.get_attr("name") == ("arithmetic", "arithmetic")
    assert vec.call("render") == (None, None)
    vec.set_attr("timeout_seconds", [1.0, 2.0])
    assert vec.get_attr("timeout_seconds") == (1.0, 2.0)
    vec.set_attr("timeout_seconds", 3.0)
    assert vec.get_attr("timeout_seconds") == (3.0, 3.0)
    with pytest.raises(EnvConfigError, match="3 values for 2 envs"):
        vec.set_attr("timeout_seconds", [1.0, 2.0, 3.0])


class ErroringVerifier(InProcessVerifier):
    """Answers the second request of every batch with ERROR (an unscorable reward), the rest normally."""

    def verify_batch(self, requests):
        responses = super().verify_batch(requests)
        responses[1].status, responses[1].reward = pb.ERROR, 0.0
        return responses


@pytest.mark.parametrize("nan_rewards", [False, True])
def test_unscorable_rewards_are_flagged_and_optionally_nan(nan_rewards):
    vec = gymnasium.make_vec(
        "rlvr/Arithmetic-v0", num_envs=4, group_size=2, verifier=ErroringVerifier(), nan_rewards=nan_rewards
    )
    assert isinstance(vec, UnknownRewardsAsNaN) == nan_rewards
    vec.reset(seed=0)
    _, rewards, _, _, info = vec.step(answers(vec.unwrapped))
    assert info["reward_known"].tolist() == [True, False, True, True]
    assert info["final_info"]["success"].tolist() == [True, None, True, True]  # unscorable is not wrong
    assert rewards[[0, 2, 3]].tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(rewards[1]) if nan_rewards else rewards[1] == 0.0
