"""SFT warm start on generator solutions (R1's cold start): teach the answer format before RL."""

from __future__ import annotations

import random
from typing import Any

import torch

from rlvr.agents.batch import Trajectory, collate
from rlvr.agents.collect import PromptEncoder
from rlvr.agents.masked import masked_mean
from rlvr.agents.policy import Policy
from rlvr.agents.tiny import ANSWER_FORMAT

#: Seeds of SFT tasks start here (training rollouts and held-out evaluation use other ranges).
SFT_SEED_BASE = 2_000_000_000


def solution_examples(
    env: Any, encoder: PromptEncoder, count: int, *, seed: int, unmarked_share: float = 0.0
) -> list[Trajectory]:
    """`count` (prompt, ground-truth answer + EOS) pairs from `env`'s own tasks.

    The answer is boxed (`ANSWER_FORMAT`), except in a share `unmarked_share` of the examples where it
    is the bare value: a teacher whose answers the verifier's marked-answer rule does not accept, as
    with cold-start data in another style. RL against the verifier then has to fix the format.
    """
    eos = encoder.tokenizer.eos_token_id
    rng = random.Random(seed)
    examples = []
    for i in range(count):
        observation, _ = env.reset(seed=SFT_SEED_BASE + seed * 100_000 + i)
        answer = env.unwrapped.task.ground_truth
        target = answer if rng.random() < unmarked_share else ANSWER_FORMAT.format(answer=answer)
        example = Trajectory(encoder.prompt(observation), group=i)
        target_ids = [*encoder.ids(target), eos]
        example.add_model_turn(target_ids, [0.0] * len(target_ids), 0.0)
        examples.append(example)
    return examples


def sft_warm_start(
    policy: Policy,
    encoder: PromptEncoder,
    env: Any,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    unmarked_share: float = 0.0,
    progress: Any = None,
) -> list[float]:
    """`steps` AdamW steps of next-token cross-entropy on the answer tokens; returns the losses."""
    parameters = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=lr)
    pool = solution_examples(
        env, encoder, max(steps * batch_size // 4, batch_size), seed=seed, unmarked_share=unmarked_share
    )
    generator = torch.Generator().manual_seed(seed)
    temperature, policy.temperature = policy.temperature, 1.0
    losses = []
    try:
        for _ in range(steps):
            index = torch.randint(len(pool), (batch_size,), generator=generator).tolist()
            batch = collate([pool[i] for i in index], encoder.tokenizer.pad_token_id)
            loss = -masked_mean(policy(batch).logp, batch.response_mask.to(policy_device(policy)))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            losses.append(float(loss.detach()))
            if progress is not None:
                progress(float(loss))
    finally:
        policy.temperature = temperature
    return losses


def policy_device(policy: Policy) -> torch.device:
    return next(policy.parameters()).device
