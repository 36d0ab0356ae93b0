"""One env, one set of completions: the env, TRL's, verl's and OpenRLHF's adapters give the same rewards."""

from __future__ import annotations

import gymnasium
import pytest

from rlvr.integrations import openrlhf, trl, verl

ENV_KWARGS = {"difficulty": 2, "format_weight": 0.25}


@pytest.mark.parametrize("env_id", ["rlvr/Arithmetic-v0", "rlvr/WordProblems-v0"])
def test_every_adapter_gives_the_envs_reward(env_id):
    trl_rows = trl.env_rows(env_id, 6, env_kwargs=ENV_KWARGS)
    verl_rows = verl.env_rows(env_id, 6, env_kwargs=ENV_KWARGS)
    env = gymnasium.make(env_id, observation="chat", **ENV_KWARGS)
    completions, from_env = [], []
    for i, row in enumerate(trl_rows):
        answer = row["ground_truth"] if i % 3 else "0.5"
        completion = f"<think>so</think><answer>{answer}</answer>" if i % 2 else f"\\boxed{{{answer}}}"
        env.reset(seed=i)
        completions.append(completion)
        from_env.append(env.step(completion)[1])

    columns = {key: [row[key] for row in trl_rows] for key in trl_rows[0] if key != "prompt"}
    from_trl = trl.reward_func()(prompts=[r["prompt"] for r in trl_rows], completions=completions, **columns)
    from_verl = [
        d["score"]
        for d in verl.compute_score_batch(
            [r["data_source"] for r in verl_rows],
            completions,
            [r["reward_model"]["ground_truth"] for r in verl_rows],
            [r["extra_info"] for r in verl_rows],
        )
    ]
    labels = [{"ground_truth": r["ground_truth"], "reward_spec": r["reward_spec"]} for r in trl_rows]
    prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
    from_openrlhf = openrlhf.RemoteReward(openrlhf.RewardScorer())(
        {"query": [prompt + c + "<|im_end|>" for c in completions], "prompts": [prompt] * 6, "labels": labels}
    )["rewards"]
    assert from_trl == from_verl == from_openrlhf == from_env
    assert len(set(from_env)) > 1


@pytest.mark.sandbox
def test_code_tests_travel_through_every_adapter():
    import json

    import rlvr

    tests = [{"stdio": {"input": "3\n", "output": "6\n"}}, {"stdio": {"input": "5\n", "output": "10\n"}}]
    spec = {"name": "code", "terms": [{"name": "accuracy", "verifier": "code", "weight": 1.0}]}
    programs = ["```python\nprint(int(input()) * 2)\n```", "```python\nprint(int(input()) + 3)\n```"]
    direct = [
        r.reward
        for r in rlvr.verify_batch(
            [{"response": p, "tests": tests, "language": "python", "reward_spec": spec} for p in programs]
        )
    ]
    from_trl = trl.reward_func(spec)(
        prompts=["q", "q"], completions=programs, tests=[json.dumps(tests)] * 2, language=["python"] * 2
    )
    truth = {"tests": tests, "language": "python"}
    from_verl = [d["score"] for d in verl.compute_score_batch(["mbpp"] * 2, programs, [truth] * 2, spec=spec)]
    label = json.dumps({"tests": tests, "language": "python"})
    from_openrlhf = openrlhf.RemoteReward(openrlhf.RewardScorer(spec=spec))(
        {"query": ["q " + p for p in programs], "prompts": ["q "] * 2, "labels": [label] * 2}
    )["rewards"]
    assert direct == from_trl == from_verl == from_openrlhf == [1.0, 0.5]
