"""The hf backend: sampler logprobs equal the trainer's, left padding is harmless, EOS and truncation are right."""

from __future__ import annotations

import pytest
import torch

from rlvr.agents.batch import Trajectory, collate
from rlvr.agents.policy import Policy, load_model, load_tokenizer
from rlvr.agents.rollout.base import Generation, SamplingParams, cut_at_eos
from rlvr.agents.rollout.hf import HFBackend


@pytest.fixture(scope="module")
def parts(tiny_model):
    return load_model(tiny_model), load_tokenizer(tiny_model)


def prompts(tokenizer, texts):
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_ratio_is_one_before_any_update_even_with_left_padding(parts, temperature):
    model, tokenizer = parts
    batch_prompts = prompts(tokenizer, ["Compute 1 plus 2.", "Compute 11 minus 13 plus 4 minus 7.", "Hi"])
    generations = HFBackend(model, tokenizer).generate(
        batch_prompts, SamplingParams(max_new_tokens=8, temperature=temperature, seed=0)
    )
    trajectories = []
    for i, (prompt, generation) in enumerate(zip(batch_prompts, generations)):
        t = Trajectory(list(prompt), group=i)
        t.add_model_turn(generation.token_ids, generation.logprobs, 0.0)
        trajectories.append(t)
    batch = collate(trajectories, tokenizer.pad_token_id)
    with torch.no_grad():
        logp = Policy(model, temperature=temperature)(batch).logp
    rho = torch.exp(logp - batch.sampler_logprobs) * batch.response_mask + (1 - batch.response_mask)
    assert torch.allclose(rho, torch.ones_like(rho), atol=1e-4)


def test_generation_keeps_eos_and_reports_truncation_by_finish_reason(parts):
    model, tokenizer = parts
    backend = HFBackend(model, tokenizer)
    out = backend.generate(
        prompts(tokenizer, ["Compute 5 plus 5."] * 16), SamplingParams(max_new_tokens=4, seed=3)
    )
    for generation in out:
        assert len(generation.token_ids) == len(generation.logprobs) <= 4
        ends_with_eos = generation.token_ids[-1] == tokenizer.eos_token_id
        assert generation.finish_reason == ("stop" if ends_with_eos else "length")
        assert tokenizer.eos_token_id not in generation.token_ids[:-1]


def test_greedy_decoding_is_deterministic(parts):
    model, tokenizer = parts
    backend = HFBackend(model, tokenizer, batch_size=2)
    batch = prompts(tokenizer, ["Compute 3 plus 4.", "Compute 8 minus 1.", "Compute 9 plus 9."])
    first = backend.generate(batch, SamplingParams(max_new_tokens=5, temperature=0))
    assert [g.token_ids for g in first] == [
        g.token_ids for g in backend.generate(batch, SamplingParams(max_new_tokens=5, temperature=0))
    ]


def test_pad_equal_to_eos_never_drops_the_eos():
    # pad id == eos id (7): positions after the first EOS are padding, the EOS itself stays.
    generation = cut_at_eos([4, 5, 7, 7, 7], [-1.0, -2.0, -0.5, 0.0, 0.0], {7})
    assert generation == Generation([4, 5, 7], [-1.0, -2.0, -0.5], "stop")
    assert cut_at_eos([4, 5], [-1.0, -2.0], {7}).truncated


def test_sampling_params_reject_values_that_cannot_sample():
    with pytest.raises(ValueError, match="max_new_tokens"):
        SamplingParams(max_new_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
