"""TRL 1.16: rlvr's reward inside real GRPOTrainer / RLOOTrainer runs, in process and through `rlvr serve`."""

from __future__ import annotations

import os
import pickle
from typing import Any

import pytest

import rlvr
from rlvr.integrations import MissingGroundTruth, UnknownDataSource, VerifierUnavailable
from rlvr.verifier.v1 import verifier_pb2 as pb

from .conftest import TINY_ENV, TINY_KWARGS, cpu_trainer_args, require_trainer

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
trl_adapter = pytest.importorskip("rlvr.integrations.trl")


@pytest.fixture(scope="module")
def trl():
    require_trainer("trl")
    import trl

    return trl


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return trl_adapter.env_rows(TINY_ENV, 8, env_kwargs=TINY_KWARGS)


def _direct(rows, completions):
    """What `rlvr verify` says about each completion, with each row's env spec."""
    requests = []
    for row, completion in zip(rows, completions):
        requests.append(
            {
                "response": completion,
                "groundTruth": row["ground_truth"],
                "rewardSpec": __import__("json").loads(row["reward_spec"]),
            }
        )
    return rlvr.verify_batch(requests)


def _call(func, rows, completions, **extra):
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "prompt"}
    return func(prompts=[row["prompt"] for row in rows], completions=completions, **columns, **extra)


def test_env_rows_carry_prompt_answer_and_the_envs_spec(rows):
    row = rows[0]
    assert row["prompt"][-1]["role"] == "user" and row["ground_truth"]
    assert row["data_source"] == TINY_ENV and '"verifier": "math"' in row["reward_spec"]


def test_reward_equals_rlvr_verify_for_text_and_chat_completions(rows):
    completions = [
        f"\\boxed{{{row['ground_truth']}}}" if i % 2 else "\\boxed{999}" for i, row in enumerate(rows)
    ]
    expected = [r.reward for r in _direct(rows, completions)]
    func = trl_adapter.reward_func()
    assert _call(func, rows, completions) == expected
    chat = [[{"role": "assistant", "content": c}] for c in completions]
    assert _call(func, rows, chat) == expected
    assert expected[1] == 1.0 and expected[0] == 0.0


def test_reward_through_rlvr_serve_equals_in_process(rows, served):
    completions = [f"<answer>{row['ground_truth']}</answer>" for row in rows]
    remote = trl_adapter.reward_func(verifier=f"grpc://{served.target}")
    assert _call(remote, rows, completions) == _call(trl_adapter.reward_func(), rows, completions)


def test_unscorable_rows_are_none_not_zero(rows):
    class HalfTimesOut:
        def verify_batch(self, requests):
            answers = rlvr.verify_batch(requests)
            for answer in answers[::2]:
                answer.status, answer.reward, answer.message = pb.TIMEOUT, 0.0, "timed out"
            return answers

    func = trl_adapter.reward_func(verifier=HalfTimesOut())
    logged: dict[str, float] = {}
    rewards = _call(func, rows, ["\\boxed{1}"] * len(rows), log_metric=logged.__setitem__)
    assert rewards[0::2] == [None] * 4 and all(r is not None for r in rewards[1::2])
    assert logged["rlvr/unscorable"] == 0.5


def test_length_terms_count_tokens_from_completion_ids(rows):
    spec = {
        "name": "len",
        "terms": [
            {
                "name": "overlong",
                "verifier": "overlong",
                "options": {"max_length": 10, "buffer": 5, "unit": "tokens"},
            }
        ],
    }
    func = trl_adapter.reward_func(spec)
    rewards = _call(func, rows[:2], ["same text", "same text"], completion_ids=[[1] * 4, [1] * 12])
    assert rewards == [0.0, -1.0]


def test_missing_ground_truth_column_is_a_clear_error(rows):
    func = trl_adapter.reward_func("r1_math")
    with pytest.raises(MissingGroundTruth, match="ground_truth_key"):
        func(prompts=["q"], completions=["\\boxed{1}"], solution=["1"])
    func = trl_adapter.reward_func("r1_math", ground_truth_key="solution")
    assert func(prompts=["q"], completions=["<think>a</think><answer>1</answer>"], solution=["1"]) == [1.1]
    with pytest.raises(MissingGroundTruth, match="row 0"):
        func(prompts=["q"], completions=["\\boxed{1}"], solution=[None])


def test_unknown_data_source_and_dead_server_raise(rows, dead_target):
    with pytest.raises(UnknownDataSource):
        trl_adapter.reward_func(specs={"gsm8k": "r1_math"})(
            prompts=["q"], completions=["x"], ground_truth=["1"], data_source=["aime"]
        )
    with pytest.raises(VerifierUnavailable):
        _call(trl_adapter.reward_func(verifier=f"grpc://{dead_target}"), rows, ["x"] * len(rows))


def test_reward_function_pickles_and_is_named_for_trl_logs(trl, dead_target):
    from trl.trainer.utils import get_callable_name

    func = trl_adapter.reward_func("r1_math", verifier=f"grpc://{dead_target}", name="math_reward")
    copy = pickle.loads(pickle.dumps(func))
    assert get_callable_name(copy) == "math_reward" and copy.scorer.target == dead_target


# -- real trainer runs ---------------------------------------------------------------------------


class Recording(trl_adapter.RewardFunction):
    """The adapter, remembering what it answered so the test can re-verify it independently."""

    def __init__(self, inner):
        super().__init__(inner.scorer, name=inner.__name__)
        self.seen: list[tuple[str, str, str, float | None]] = []

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        rewards = super().__call__(prompts, completions, completion_ids, **kwargs)
        for completion, truth, spec, reward in zip(
            completions, kwargs["ground_truth"], kwargs["reward_spec"], rewards
        ):
            self.seen.append((completion, truth, spec, reward))
        return rewards


def _grpo_args(trl, tmp_path, **overrides):
    return cpu_trainer_args(trl.GRPOConfig, tmp_path, beta=0.0, **overrides)


def _model(tiny_model):
    from transformers import AutoModelForCausalLM

    from rlvr.agents.policy import load_tokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model), load_tokenizer(tiny_model)


def _assert_rewards_are_rlvrs(func: Recording, logs: list[dict]):
    import json

    assert func.seen, "the trainer never called the reward"
    expected = rlvr.verify_batch(
        [{"response": c, "groundTruth": t, "rewardSpec": json.loads(s)} for c, t, s, _ in func.seen]
    )
    assert [r for *_, r in func.seen] == [e.reward for e in expected]
    assert any("rewards/rlvr/mean" in entry and "rlvr/accuracy" in entry for entry in logs)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["in_process", "rlvr_serve"])
def test_grpo_trainer_trains_on_rlvr_env_dataset_and_reward(trl, tiny_model, tmp_path, where, request):
    verifier = f"grpc://{request.getfixturevalue('served').target}" if where == "rlvr_serve" else None
    func = Recording(trl_adapter.reward_func(verifier=verifier))
    model, tokenizer = _model(tiny_model)
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[func],
        args=_grpo_args(trl, tmp_path),
        train_dataset=trl_adapter.env_dataset(TINY_ENV, 16, env_kwargs=TINY_KWARGS),
        processing_class=tokenizer,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    _assert_rewards_are_rlvrs(func, trainer.state.log_history)
    assert len(func.seen) == 2 * 4  # 2 steps x one generation batch of 4 completions


@pytest.mark.slow
def test_rloo_trainer_trains_with_rlvr_reward(trl, tiny_model, tmp_path):
    func = Recording(trl_adapter.reward_func())
    model, tokenizer = _model(tiny_model)
    args = cpu_trainer_args(trl.RLOOConfig, tmp_path)
    trainer = trl.RLOOTrainer(
        model=model,
        reward_funcs=[func],
        args=args,
        train_dataset=trl_adapter.env_dataset(TINY_ENV, 16, env_kwargs=TINY_KWARGS),
        processing_class=tokenizer,
    )
    trainer.train()
    assert trainer.state.global_step == 2
    _assert_rewards_are_rlvrs(func, trainer.state.log_history)


@pytest.mark.slow
def test_grpo_trainer_gives_unscorable_completions_no_reward(trl, tiny_model, tmp_path):
    class AllTimeOut:
        def verify_batch(self, requests):
            return [pb.VerifyResponse(id=r.id, status=pb.TIMEOUT, message="timed out") for r in requests]

    func = trl_adapter.reward_func(verifier=AllTimeOut())
    model, tokenizer = _model(tiny_model)
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[func],
        args=_grpo_args(trl, tmp_path, max_steps=1),
        train_dataset=trl_adapter.env_dataset(TINY_ENV, 8, env_kwargs=TINY_KWARGS),
        processing_class=tokenizer,
    )
    trainer.train()
    (entry, *_) = trainer.state.log_history
    assert entry["rlvr/unscorable"] == 1.0 and entry["loss"] == 0.0
