"""verl 0.9.1: its own custom-reward loading (`get_custom_reward_fn`, `load_reward_manager`) and reward
managers (`naive` per sample, sync and async; legacy `batch`) calling rlvr's compute_score on a real
DataProto built from the tiny model's tokenizer.

verl is installed with `--no-deps` (it pins transformers < 5.11); importing the modules used here needs
ray, tensordict, omegaconf and codetiming (the `integrations` extra). omegaconf 2.3 needs
antlr4-python3-runtime 4.9; where a newer antlr4 is installed (math-verify's `bench` extra wants 4.13)
omegaconf cannot import and these tests are skipped (failed with RLVR_REQUIRE_TRAINERS=1).
"""

from __future__ import annotations

import asyncio
import os
from functools import partial

import pytest

import rlvr
from rlvr.integrations import UnknownDataSource
from rlvr.integrations import verl as adapter

from .conftest import TINY_ENV, TINY_KWARGS, require_trainer


@pytest.fixture(scope="module")
def verl():
    require_trainer("verl")
    try:
        import verl
        from omegaconf import OmegaConf  # noqa: F401
    except Exception as exc:  # omegaconf's parser raises a bare Exception on an antlr4 mismatch
        message = f"verl does not import here ({type(exc).__name__}: {exc}); see this module's docstring"
        if os.environ.get("RLVR_REQUIRE_TRAINERS"):
            pytest.fail(message)
        pytest.skip(message)
    return verl


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from rlvr.agents.policy import load_tokenizer

    return load_tokenizer(tiny_model)


def _batch(verl, tokenizer, rows, responses, *, response_width=16):
    """A DataProto as verl's rollout leaves it: left-padded prompts, right-padded responses."""
    import numpy as np
    import torch

    prompts = [
        tokenizer.apply_chat_template(r["prompt"], add_generation_prompt=True, tokenize=False) for r in rows
    ]
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    response_ids = [
        tokenizer(r, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for r in responses
    ]
    width, pad = max(map(len, prompt_ids)), tokenizer.pad_token_id
    assert max(map(len, response_ids)) <= response_width
    prompt_tensor = torch.tensor([[pad] * (width - len(p)) + p for p in prompt_ids])
    response_tensor = torch.tensor([r + [pad] * (response_width - len(r)) for r in response_ids])
    mask = torch.tensor(
        [
            [0] * (width - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (response_width - len(r))
            for p, r in zip(prompt_ids, response_ids)
        ]
    )
    return verl.DataProto.from_dict(
        tensors={"prompts": prompt_tensor, "responses": response_tensor, "attention_mask": mask},
        non_tensors={
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array([r["reward_model"] for r in rows], dtype=object),
            "extra_info": np.array([dict(r["extra_info"]) for r in rows], dtype=object),
        },
    )


def _config(name="compute_score", manager="naive", **reward_kwargs):
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": adapter.__file__,
                    "name": name,
                    "reward_kwargs": reward_kwargs,
                },
                "reward_manager": {"source": "register", "name": manager},
                "sandbox_fusion": None,
            }
        }
    )


@pytest.fixture(scope="module")
def rows():
    return adapter.env_rows(TINY_ENV, 6, env_kwargs=TINY_KWARGS)


def _responses(rows):
    return [
        f"\\boxed{{{r['reward_model']['ground_truth']}}}" if i % 2 == 0 else "\\boxed{999}"
        for i, r in enumerate(rows)
    ]


def _expected(rows, responses):
    import json

    return rlvr.verify_batch(
        [
            {
                "response": text,
                "groundTruth": r["reward_model"]["ground_truth"],
                "rewardSpec": json.loads(r["extra_info"]["reward_spec"]),
            }
            for r, text in zip(rows, responses)
        ]
    )


def test_env_rows_follow_verls_rl_dataset_schema(rows):
    row = rows[0]
    assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert row["reward_model"]["style"] == "rule" and row["extra_info"]["index"] == 0


@pytest.mark.parametrize("name", ["compute_score", "compute_score_async"])
def test_naive_manager_loads_and_calls_rlvr_compute_score(verl, tokenizer, rows, name):
    from verl.trainer.ppo.reward import load_reward_manager

    manager = load_reward_manager(_config(name), tokenizer)
    assert type(manager).__name__ == "NaiveRewardManager"
    responses = _responses(rows)
    data = _batch(verl, tokenizer, rows, responses)

    async def all_rows():
        return await asyncio.gather(*(manager.run_single(data[i : i + 1]) for i in range(len(data))))

    results = manager.loop.run_until_complete(all_rows())
    expected = _expected(rows, responses)
    assert [r["reward_score"] for r in results] == [e.reward for e in expected]
    assert [r["reward_extra_info"]["acc"] for r in results] == [1.0, 0.0] * 3
    assert all(r["reward_extra_info"]["rlvr_unscorable"] == 0.0 for r in results)
    assert {"score", "acc", "rlvr_unscorable", "rlvr_accuracy"} <= set(results[0]["reward_extra_info"])


def test_async_calls_on_one_loop_coalesce_into_one_batch(monkeypatch, rows):
    batches = []
    original = adapter.RewardScorer.score

    def counting(self, samples):
        batches.append(len(samples))
        return original(self, samples)

    monkeypatch.setattr(adapter.RewardScorer, "score", counting)

    async def calls():
        return await asyncio.gather(
            *(
                adapter.compute_score_async(
                    r["data_source"], text, r["reward_model"]["ground_truth"], r["extra_info"]
                )
                for r, text in zip(rows, _responses(rows))
            )
        )

    results = asyncio.run(calls())
    assert batches == [len(rows)] and [r["score"] for r in results] == [1.0, 0.0] * 3


def test_batch_manager_calls_the_batch_form_once(verl, tokenizer, rows):
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.workers.reward_manager.batch import BatchRewardManager

    compute = get_custom_reward_fn(_config("compute_score_batch"))
    manager = BatchRewardManager(tokenizer, num_examine=0, compute_score=compute)
    responses = _responses(rows)
    out = manager(_batch(verl, tokenizer, rows, responses), return_dict=True)
    expected = [e.reward for e in _expected(rows, responses)]
    assert out["reward_tensor"].sum(dim=-1).tolist() == expected
    assert out["reward_extra_info"]["score"] == expected
    assert out["reward_extra_info"]["rlvr_accuracy"] == [1.0, 0.0] * 3


def test_reward_kwargs_choose_the_spec_per_data_source(verl, tokenizer, rows):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    compute = get_custom_reward_fn(_config(specs={TINY_ENV: "r1_math"}))
    result = compute(
        data_source=TINY_ENV,
        solution_str="<think>x</think><answer>3</answer>",
        ground_truth="3",
        extra_info={},
    )
    assert result["score"] == pytest.approx(1.1) and result["rlvr_format"] == 1.0
    with pytest.raises(UnknownDataSource):
        compute(data_source="aime", solution_str="x", ground_truth="3", extra_info={})


def test_code_ground_truth_may_carry_tests():
    truth = {"tests": [{"call": {"function": "f", "args": "[1]", "expected": "2"}}], "language": "python"}
    sample = adapter.sample_of("mbpp", "def f(x): return x + 1", truth, {"index": 4}, 0)
    assert sample.language == "python" and len(sample.tests) == 1 and sample.group_id == "verl-mbpp-4"


def test_without_verl_the_functions_work_alone(rows):
    partial_score = partial(adapter.compute_score, spec="math")
    assert partial_score(data_source="x", solution_str="\\boxed{4}", ground_truth="4")["score"] == 1.0
    assert adapter.compute_score_batch(["r1_math"], ["\\boxed{4}"], ["4"])[0]["rlvr_format"] == 0.0
    with pytest.raises(TypeError, match="verifeir"):
        adapter.compute_score(data_source="math", solution_str="x", ground_truth="1", verifeir="grpc://x:1")
