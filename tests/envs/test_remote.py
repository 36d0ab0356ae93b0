"""An env pointed at a running `rlvr serve` gives the same rewards as the in-process verifier."""

from __future__ import annotations

import gymnasium
import pytest

from rlvr.envs.client import RemoteVerifier

from .helpers import math_answer


def test_remote_rewards_equal_in_process_rewards(serve_target):
    kwargs = {"difficulty": 3, "format_weight": 0.1}
    local = gymnasium.make("rlvr/WordProblems-v0", **kwargs)
    remote = gymnasium.make("rlvr/WordProblems-v0", verifier=f"grpc://{serve_target}", **kwargs)
    for seed in range(3):
        local.reset(seed=seed)
        remote.reset(seed=seed)
        answer = local.unwrapped.task.ground_truth
        for completion in (math_answer(answer), f"\\boxed{{{answer}}}", math_answer("0.01"), ""):
            mine, theirs = local.step(completion), remote.step(completion)
            assert theirs[1] == pytest.approx(mine[1]) and theirs[4]["status"] == mine[4]["status"]
            assert theirs[4]["components"] == mine[4]["components"]
            local.reset(seed=seed)
            remote.reset(seed=seed)
    remote.close()


def test_a_vector_env_sends_one_batch_to_the_server(serve_target):
    vec = gymnasium.make_vec(
        "rlvr/Arithmetic-v0", num_envs=4, group_size=2, verifier=f"grpc://{serve_target}"
    )
    vec.reset(seed=0)
    _, rewards, terminated, _, _ = vec.step([math_answer(env.task.ground_truth) for env in vec.envs])
    assert rewards.tolist() == [1.0] * 4 and terminated.all()


class RecordingRemote(RemoteVerifier):
    def __init__(self, target: str):
        super().__init__(target)
        self.batches: list[list[str]] = []

    def verify_batch(self, requests):
        self.batches.append([r.verifier for r in requests])
        return super().verify_batch(requests)


def test_calculator_tool_calls_run_on_the_server_without_a_local_sandbox(serve_target, monkeypatch):
    import rlvr.sandbox

    def no_local_sandbox(*args, **kwargs):
        raise AssertionError("a remote env must not start a local sandbox")

    monkeypatch.setattr(rlvr.sandbox, "run", no_local_sandbox)
    client = RecordingRemote(serve_target)
    vec = gymnasium.make_vec("rlvr/Calculator-v0", num_envs=2, group_size=2, difficulty=1, verifier=client)
    vec.reset(seed=0)
    answer = math_answer(vec.envs[0].task.ground_truth)
    obs, rewards, *_ = vec.step(["<calculator>6 * 7</calculator>", answer])
    assert obs[0] == "<result>42</result>" and rewards.tolist() == [0.0, 1.0]
    assert client.batches == [["calculator", ""]]  # one batch for the tool call and the answer
    client.close()


def test_reasoning_gym_rewards_are_the_same_through_the_server(serve_target, needs_reasoning_gym):
    kwargs = {"size": 20, "format_weight": 0.1}
    local = gymnasium.make("rlvr/ReasoningGym-v0", **kwargs)
    remote = gymnasium.make("rlvr/ReasoningGym-v0", verifier=f"grpc://{serve_target}", **kwargs)
    for index in range(3):
        local.reset(options={"task_index": index})
        answer = local.unwrapped.task.ground_truth
        for completion in (math_answer(answer), f"<answer>{answer}9</answer>", "no answer"):
            local.reset(options={"task_index": index})
            remote.reset(options={"task_index": index})
            mine, theirs = local.step(completion), remote.step(completion)
            assert theirs[1] == pytest.approx(mine[1]) and theirs[4]["status"] == mine[4]["status"]
    remote.close()
