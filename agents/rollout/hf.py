"""The `hf` rollout backend: transformers `generate` with sampling, on the training model itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from rlvr.agents.rollout.base import Generation, SamplingParams, cut_at_eos


class HFBackend:
    """Samples with `model.generate` in batches of `batch_size` prompts, left-padded.

    Logprobs come from the scores `generate` already computes (after temperature, top-k and top-p),
    so no second forward pass is needed. The model is the trainer's own, so `sync_weights` is a no-op.
    """

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 64):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = model.generation_config.eos_token_id
        eos = eos if eos is not None else tokenizer.eos_token_id
        self.eos_ids = set(eos) if isinstance(eos, list) else {int(eos)}

    def sync_weights(self, model: Any) -> None:
        self.model = model

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        if params.seed is not None:
            torch.manual_seed(params.seed)
        out: list[Generation] = []
        for start in range(0, len(prompts), self.batch_size):
            out.extend(self._generate_batch(prompts[start : start + self.batch_size], params))
        return out

    def _generate_batch(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        device = next(self.model.parameters()).device
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            input_ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            attention[row, width - len(prompt) :] = 1
        sampling: dict[str, Any] = (
            {"do_sample": False}
            if params.greedy
            else {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        )
        was_training = self.model.training
        self.model.eval()
        try:
            result = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                max_new_tokens=params.max_new_tokens,
                top_k=params.top_k or None,
                pad_token_id=self.pad_id,
                eos_token_id=sorted(self.eos_ids),
                output_scores=True,
                return_dict_in_generate=True,
                **sampling,
            )
        finally:
            self.model.train(was_training)
        completions = result.sequences[:, width:]
        logprobs = torch.stack(
            [
                torch.log_softmax(scores.float(), dim=-1).gather(-1, completions[:, t : t + 1]).squeeze(-1)
                for t, scores in enumerate(result.scores)
            ],
            dim=1,
        )
        return [
            cut_at_eos(ids, lps, self.eos_ids) for ids, lps in zip(completions.tolist(), logprobs.tolist())
        ]
