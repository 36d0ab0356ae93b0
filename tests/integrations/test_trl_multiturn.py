"""TRL 1.16's `rollout_func`: multi-turn rlvr envs played inside a real GRPOTrainer (model and env tokens)."""

from __future__ import annotations

import os

import gymnasium
import pytest
from gymnasium.envs.registration import EnvSpec

from rlvr.envs import GeneratorSource, MultiTurnEnv
from rlvr.envs.generators import ArithmeticGenerator

from .conftest import TINY_ENV, TINY_KWARGS, cpu_trainer_args, require_trainer

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
trl_adapter = pytest.importorskip("rlvr.integrations.trl")
FEEDBACK = "Wrong, try again."


class RetryArithmetic(MultiTurnEnv):
    """Arithmetic with a second chance: a wrong answer is told so, up to 2 turns."""

    def __init__(self, **kwargs):
        kwargs.setdefault("name", "arithmetic")
        super().__init__(GeneratorSource(ArithmeticGenerator(), [1]), **kwargs)

    def feedback(self, action, response):
        return FEEDBACK


def make_env():
    spec = EnvSpec("RetryArithmetic-v0", entry_point=RetryArithmetic, max_episode_steps=2)
    return gymnasium.make(spec, observation="chat", system_prompt="")


@pytest.mark.slow
def test_env_rollout_trains_a_multi_turn_env_with_env_tokens_masked(tiny_model, tmp_path):
    require_trainer("trl")
    import trl
    from transformers import AutoModelForCausalLM

    from rlvr.agents.policy import load_tokenizer

    rows = trl_adapter.env_rows(TINY_ENV, 8, env_kwargs=TINY_KWARGS)
    dataset = trl_adapter.env_dataset(TINY_ENV, 8, env_kwargs=TINY_KWARGS)
    rollout = trl_adapter.EnvRollout(make_env, rows, turn_tokens=12)
    outputs: list[dict] = []

    def recording(prompts, trainer):
        outputs.append(rollout(prompts, trainer))
        return outputs[-1]

    tokenizer = load_tokenizer(tiny_model)
    args = cpu_trainer_args(trl.GRPOConfig, tmp_path, max_completion_length=64, beta=0.0, seed=42)
    trainer = trl.GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model),
        reward_funcs=[trl_adapter.env_reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=recording,
    )
    trainer.train()
    assert trainer.state.global_step == 2 and outputs
    feedback_ids = tokenizer(FEEDBACK, add_special_tokens=False)["input_ids"]
    saw_second_turn = False
    for output in outputs:
        for ids, logprobs, mask, turns in zip(
            output["completion_ids"], output["logprobs"], output["env_mask"], output["env_turns"]
        ):
            assert len(ids) == len(logprobs) == len(mask) <= 64
            assert all(lp == 0.0 for lp, m in zip(logprobs, mask) if m == 0)
            assert all(lp <= 0.0 for lp in logprobs)
            if turns == 2:
                saw_second_turn = True
                env_part = [t for t, m in zip(ids, mask) if m == 0]
                text = tokenizer.decode(env_part)
                assert FEEDBACK in text and "user" in text
                assert set(feedback_ids) <= set(env_part)
        assert all(r is None or r in (0.0, 1.0) for r in output["env_reward"])
    assert saw_second_turn, "no episode reached its second turn"
    assert any("rewards/env_reward/mean" in entry for entry in trainer.state.log_history)


def test_env_rollout_refuses_a_prompt_it_has_no_row_for():
    rollout = trl_adapter.EnvRollout(make_env, trl_adapter.env_rows(TINY_ENV, 2, env_kwargs=TINY_KWARGS))
    with pytest.raises(trl_adapter.MissingGroundTruth, match="no dataset row"):
        rollout._task([{"role": "user", "content": "not in the dataset"}])


def test_env_reward_without_env_rollout_is_an_error():
    with pytest.raises(trl_adapter.MissingGroundTruth, match="EnvRollout"):
        trl_adapter.env_reward(completions=["x"])
