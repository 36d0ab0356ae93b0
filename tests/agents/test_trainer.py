"""The training loop: every preset runs, updates move the policy the right way, resume is exact, bad input is clear."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rlvr.agents.config import ConfigError, load_config
from rlvr.agents.policy import ModelLoadError
from rlvr.agents.presets import ALGOS
from rlvr.agents.trainer import Trainer, TrainingError
from rlvr.envs.client import InProcessVerifier
from rlvr.verifier.v1 import verifier_pb2 as pb


def make(overrides: dict, **changes) -> Trainer:
    return Trainer(load_config(None, {**overrides, **changes}))


def flat_parameters(trainer: Trainer) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in trainer.policy.parameters()])


#: A reward any completion earns in varying amounts (by its length in tokens), so every estimator has signal.
LENGTH_SPEC = {
    "name": "short",
    "terms": [
        {
            "name": "short",
            "verifier": "overlong",
            "weight": 1.0,
            "options": {"max_length": 5, "buffer": 4, "unit": "tokens"},
        }
    ],
}


@pytest.mark.parametrize("algo", ALGOS)
def test_every_preset_trains_and_writes_loadable_initial_and_final_models(train_overrides, algo):
    from transformers import AutoModelForCausalLM

    env_kwargs = {**train_overrides["env_kwargs"], "reward_spec": LENGTH_SPEC}
    trainer = make(train_overrides, algo=algo, env_kwargs=env_kwargs)
    before = flat_parameters(trainer)
    result = trainer.train()
    assert result.steps == 2 and not torch.equal(before, flat_parameters(trainer))
    out = result.output_dir
    for name in ("initial", "final"):
        AutoModelForCausalLM.from_pretrained(out / name)
        run = json.loads((out / name / "rlvr_train.json").read_text())
        assert run["env"] == "rlvr/Arithmetic-v0" and run["config"]["algo"] == algo
        assert "chat_template" in run and run["generation"]["max_new_tokens"] == 6
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    assert {
        "reward/mean",
        "entropy",
        "approx_kl",
        "clip_ratio/region",
        "grad_norm",
        "frac_reward_zero_std",
    } <= set(records[1])
    assert "eval/pass@1" in records[0] and "eval/pass@1" in records[-1]
    assert (out / "curves.png").stat().st_size > 0
    if algo == "ppo":
        assert (out / "final" / "value_head.pt").exists() and "value/explained_variance" in records[1]


def test_updates_on_a_fixed_batch_raise_the_likelihood_of_positive_advantage_completions(train_overrides):
    trainer = make(
        train_overrides,
        algo="grpo",
        beta=0.0,
        lr=3e-3,
        group_size=8,
        prompts_per_step=2,
        max_new_tokens=4,
        eps_high=5.0,
    )
    data = trainer.rollout(0)
    with torch.no_grad():
        data.old_logp = trainer.policy(
            data.batch
        ).logp  # a fixed behaviour policy: the surrogate is not constant
    data.advantages = torch.zeros_like(data.advantages)
    data.advantages[0::2] = 1.0  # any fixed signs: the update must follow them
    data.advantages[1::2] = -1.0
    data.advantages *= data.mask
    losses, gaps = [], []
    for _ in range(8):
        with torch.no_grad():
            logp = trainer.policy(data.batch).logp
        per_row = (logp * data.mask).sum(-1)
        gaps.append(float(per_row[0::2].mean() - per_row[1::2].mean()))
        losses.append(trainer.update(data)["loss/policy"])
    assert gaps[-1] > gaps[0] + 1.0
    assert losses[-1] < losses[0]


def test_no_ratio_is_one_on_fresh_rollouts(train_overrides):
    trainer = make(train_overrides, algo="ppo")
    data = trainer.rollout(0)
    assert data.old_logp is not None
    rho = torch.exp(data.old_logp - data.batch.sampler_logprobs) * data.mask
    assert torch.allclose(rho[data.mask.bool()], torch.ones(int(data.mask.sum())), atol=1e-4)


def test_resume_continues_exactly_where_the_run_stopped(train_overrides, tmp_path):
    straight = make(train_overrides, algo="ppo", steps=4, output_dir=str(tmp_path / "a"))
    straight.train()
    first = make(train_overrides, algo="ppo", steps=2, output_dir=str(tmp_path / "b"))
    first.train()
    resumed = make(train_overrides, algo="ppo", steps=4, output_dir=str(tmp_path / "b"), resume=True)
    assert resumed.train().steps == 4
    assert torch.equal(flat_parameters(straight), flat_parameters(resumed))
    records = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]


class ErroringVerifier(InProcessVerifier):
    """Answers the first two requests of every batch with ERROR (unscorable), the rest normally."""

    def verify_batch(self, requests):
        responses = super().verify_batch(requests)
        for response in responses[:2]:
            response.status, response.reward = pb.ERROR, 0.0
        return responses


def test_unscorable_rows_get_zero_advantage_leave_the_loss_and_are_counted(train_overrides):
    env_kwargs = {**train_overrides["env_kwargs"], "verifier": ErroringVerifier()}
    trainer = make(train_overrides, algo="grpo", env_kwargs=env_kwargs)
    data = trainer.rollout(0)
    assert math.isnan(float(data.batch.scores[0])) and math.isnan(float(data.batch.scores[1]))
    assert float(data.mask[:2].abs().sum()) == 0 and float(data.advantages[:2].abs().sum()) == 0
    assert data.metrics["status/ERROR"] == 2.0


def test_a_verifier_that_never_scores_stops_the_run_with_a_message(train_overrides):
    class AlwaysError(InProcessVerifier):
        def verify_batch(self, requests):
            return [pb.VerifyResponse(id=r.id, status=pb.ERROR, message="boom") for r in requests]

    env_kwargs = {**train_overrides["env_kwargs"], "verifier": AlwaysError()}
    trainer = make(train_overrides, env_kwargs=env_kwargs, steps=5)
    with pytest.raises(TrainingError, match="no completion could be scored.*ERROR"):
        trainer.train()


def test_a_reward_server_that_is_down_stops_the_run_instead_of_training_on_zeros(train_overrides):
    trainer = make(train_overrides, verifier="grpc://127.0.0.1:9")
    with pytest.raises(TrainingError, match="reward service grpc://127.0.0.1:9 failed"):
        trainer.rollout(0)


def test_a_non_finite_loss_skips_the_step_and_leaves_the_weights(train_overrides):
    trainer = make(train_overrides, algo="grpo")
    data = trainer.rollout(0)
    data.advantages = data.advantages + float("nan") * data.mask
    before = flat_parameters(trainer)
    stats = trainer.update(data)
    assert stats["skipped"] == 1.0 and trainer.skipped_steps == 1
    assert torch.equal(before, flat_parameters(trainer))


def test_bad_input_gets_messages_that_say_what_to_fix(train_overrides, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        make(train_overrides, model=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="did you mean 'rlvr/Arithmetic-v0'"):
        make(train_overrides, env="rlvr/Arithmetc-v0")
    with pytest.raises(ConfigError, match="group_size must be at least 2"):
        make(train_overrides, algo="rloo", group_size=1)
    with pytest.raises(ConfigError, match="lr"):
        load_config(None, {"lr": -1})
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(None, {"learning_rate": 1e-4})
    bad = tmp_path / "bad.yaml"
    bad.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_multi_process_batches_must_split_evenly(train_overrides):
    from rlvr.agents.distributed import World

    with pytest.raises(ConfigError, match="multiple of the number of processes"):
        Trainer(load_config(None, {**train_overrides, "prompts_per_step": 3}), world=World(0, 2))


def test_ctrl_c_saves_a_checkpoint_the_run_resumes_from(train_overrides):
    trainer = make(train_overrides, steps=3)

    def interrupt(step, metrics):
        if step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.train(on_step=interrupt)
    checkpoint = trainer.output_dir / "checkpoints" / "step-1"
    assert (checkpoint / "trainer_state.pt").exists() and (checkpoint / "config.json").exists()
    assert make(train_overrides, steps=3, resume=True).train().steps == 3


def test_lora_trains_only_adapters_uses_the_base_as_reference_and_saves_merged_models(train_overrides):
    from transformers import AutoModelForCausalLM

    trainer = make(train_overrides, algo="grpo", lora={"r": 4, "alpha": 8}, gradient_checkpointing=True)
    assert trainer.reference is None and trainer.policy.uses_lora
    trainable = {name for name, p in trainer.policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    data = trainer.rollout(0)
    assert data.ref_logp is not None
    with torch.no_grad():
        logp = trainer.policy(data.batch).logp
    assert torch.allclose(logp * data.mask, data.ref_logp * data.mask, atol=1e-5)  # adapters start at zero
    result = trainer.train()
    merged = AutoModelForCausalLM.from_pretrained(result.output_dir / "final")
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_a_resumed_warm_started_run_keeps_the_warm_started_reference(train_overrides):
    from transformers import AutoModelForCausalLM

    make(train_overrides, algo="grpo", sft_steps=5, steps=1).train()
    resumed = make(train_overrides, algo="grpo", sft_steps=5, steps=2, resume=True)
    initial = AutoModelForCausalLM.from_pretrained(resumed.output_dir / "initial").state_dict()
    reference = resumed.reference.state_dict()
    assert resumed.model_dir == resumed.output_dir / "initial"
    different = [name for name in initial if not torch.equal(initial[name], reference[name])]
    assert not different
    assert resumed.train().steps == 2
