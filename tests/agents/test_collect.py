"""Rollout collection: multi-turn token masks and per-turn rewards, unscorable rewards as NaN, prompt encoding."""

from __future__ import annotations

import math

import gymnasium
import pytest

import rlvr.envs  # noqa: F401 - registers the ids
from rlvr.agents.collect import PromptEncoder, RolloutCollector
from rlvr.agents.policy import load_tokenizer
from rlvr.agents.rollout.base import Generation, SamplingParams
from rlvr.envs.client import InProcessVerifier
from rlvr.verifier.v1 import verifier_pb2 as pb


class ScriptedBackend:
    """A rollout backend that plays fixed texts: `script[turn][row]` (a scripted policy, for env plumbing)."""

    name = "scripted"

    def __init__(self, tokenizer, script: list[list[str]]):
        self.tokenizer, self.script, self.turn = tokenizer, script, 0

    def generate(self, prompts, params):
        texts = self.script[self.turn][: len(prompts)]
        self.turn += 1
        out = []
        for text in texts:
            ids = [*self.tokenizer(text, add_special_tokens=False)["input_ids"], self.tokenizer.eos_token_id]
            out.append(Generation(ids, [-0.5] * len(ids), "stop"))
        return out

    def sync_weights(self, model):
        pass


class ErroringVerifier(InProcessVerifier):
    """Answers the first request of every batch with ERROR: an unscorable reward."""

    def verify_batch(self, requests):
        responses = super().verify_batch(requests)
        responses[0].status, responses[0].reward = pb.ERROR, 0.0
        return responses


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return load_tokenizer(tiny_model)


@pytest.mark.sandbox
@pytest.mark.parametrize("observation", ["chat", "text"])
def test_multi_turn_env_tokens_are_masked_and_each_turn_reward_sits_on_its_last_token(tokenizer, observation):
    vec = gymnasium.make_vec("rlvr/Calculator-v0", 2, difficulty=1, observation=observation, system_prompt="")
    vec.reset(seed=5)
    tasks = [env.task for env in vec.envs]
    script = [
        [f"<calculator>{t.metadata['expression']}</calculator>" for t in tasks],
        [f"<answer>{t.ground_truth}</answer>" for t in tasks[:1]] + ["<answer>nope</answer>"],
    ]
    encoder = PromptEncoder(tokenizer, chat_template=observation == "chat")
    collector = RolloutCollector(vec, ScriptedBackend(tokenizer, script), encoder, max_context=4096)
    right, wrong = collector.collect(5, SamplingParams(max_new_tokens=40))
    for trajectory, reward in ((right, 1.0), (wrong, 0.0)):
        assert trajectory.turns == 2 and trajectory.statuses == [
            "TOOL_CALL",
            "CORRECT" if reward else "INCORRECT",
        ]
        mask = trajectory.loss_mask
        first_turn_end = mask.index(0) - 1  # the first model turn ends where the env's tokens start
        second_turn_end = len(mask) - 1
        assert mask[-1] == 1 and 0 in mask
        env_text = tokenizer.decode([i for i, m in zip(trajectory.response_ids, mask) if m == 0])
        assert "<result>" in env_text and "calculator" not in env_text
        assert trajectory.response_ids[first_turn_end] == tokenizer.eos_token_id
        rewards = {i: r for i, r in enumerate(trajectory.token_rewards) if r}
        assert rewards == ({second_turn_end: 1.0} if reward else {})
        assert trajectory.score == reward and trajectory.success is bool(reward)
        assert all(lp == 0.0 for lp, m in zip(trajectory.sampler_logprobs, mask) if m == 0)


def test_unscorable_rewards_are_nan_scores_not_wrong_answers(tokenizer):
    vec = gymnasium.make_vec(
        "rlvr/Arithmetic-v0", 4, group_size=2, system_prompt="", verifier=ErroringVerifier()
    )
    vec.reset(seed=0)
    script = [[f"\\boxed{{{env.task.ground_truth}}}" for env in vec.envs]]
    collector = RolloutCollector(
        vec, ScriptedBackend(tokenizer, script), PromptEncoder(tokenizer, chat_template=True), max_context=512
    )
    trajectories = collector.collect(0, SamplingParams(max_new_tokens=8))
    assert math.isnan(trajectories[0].score) and trajectories[0].success is None
    assert trajectories[0].statuses == ["ERROR"]
    assert [t.score for t in trajectories[1:]] == [1.0, 1.0, 1.0]
    assert [t.group for t in trajectories] == [0, 0, 1, 1]


def test_length_terms_count_the_tokens_as_sampled(tokenizer):
    encoder = PromptEncoder(tokenizer, chat_template=False)
    collector = RolloutCollector(None, ScriptedBackend(tokenizer, []), encoder, max_context=512)
    collector.token_counts["\\boxed{3}"] = 17
    assert collector.count_tokens("\\boxed{3}") == 17
    assert collector.count_tokens("\\boxed{4}") == len(
        tokenizer("\\boxed{4}", add_special_tokens=False)["input_ids"]
    )


def test_chat_prompts_use_the_template_and_text_prompts_stay_verbatim(tokenizer):
    chat = PromptEncoder(tokenizer, chat_template=True).prompt("Compute 1 plus 1.")
    text = PromptEncoder(tokenizer, chat_template=False).prompt("Compute 1 plus 1.")
    assert tokenizer.decode(chat).startswith("<|im_start|>user\nCompute 1 plus 1.<|im_end|>")
    assert tokenizer.decode(text) == "Compute 1 plus 1."


@pytest.mark.sandbox
def test_the_trainer_learns_from_multi_turn_episodes_on_model_tokens_only(train_overrides, tokenizer):
    from rlvr.agents.config import load_config
    from rlvr.agents.trainer import Trainer

    env_kwargs = {"difficulty": 1, "observation": "chat", "system_prompt": ""}
    probe = gymnasium.make_vec("rlvr/Calculator-v0", 4, group_size=4, **env_kwargs)
    seed = 1_000_000  # the env seed of step 0 for training seed 0 (Trainer._train_seed)
    probe.reset(seed=seed)
    task = probe.envs[0].task
    script = [
        [f"<calculator>{task.metadata['expression']}</calculator>"] * 4,
        [f"<answer>{task.ground_truth}</answer>"] * 2 + ["<answer>nope</answer>"] * 2,
    ]
    config = {
        **train_overrides,
        "env": "rlvr/Calculator-v0",
        "env_kwargs": env_kwargs,
        "prompts_per_step": 1,
        "beta": 0.0,
    }
    trainer = Trainer(load_config(None, config), backend=ScriptedBackend(tokenizer, script))
    data = trainer.rollout(0)
    env_positions = data.batch.response_mask == 0
    assert data.advantages[env_positions].abs().sum() == 0
    assert (data.advantages[:2][data.mask[:2].bool()] > 0).all() and (
        data.advantages[2:][data.mask[2:].bool()] < 0
    ).all()
    assert trainer.update(data)["grad_norm"] > 0
