"""Rollout trajectories and their tensor form: left-padded prompts, right-padded responses, masks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import torch


@dataclass
class Trajectory:
    """One episode of one row: its prompt and everything after it, token by token.

    `response_ids` holds the model's tokens and, in multi-turn envs, the env's tokens between turns;
    `loss_mask` is 1 on model tokens (through each turn's EOS) and 0 on env tokens. `token_rewards`
    holds each turn's reward on that turn's last model token (NaN when the verdict is unknown).
    `score` is the episode's total reward, NaN when any turn was unscorable.
    """

    prompt_ids: list[int]
    group: int
    response_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    sampler_logprobs: list[float] = field(default_factory=list)
    token_rewards: list[float] = field(default_factory=list)
    score: float = 0.0
    success: bool | None = None
    truncated: bool = False
    statuses: list[str] = field(default_factory=list)
    components: dict[str, float] = field(default_factory=dict)
    completion_text: str = ""
    task_id: str = ""
    turns: int = 0

    def add_model_turn(self, token_ids: Sequence[int], logprobs: Sequence[float], reward: float) -> None:
        self.response_ids.extend(token_ids)
        self.loss_mask.extend([1] * len(token_ids))
        self.sampler_logprobs.extend(logprobs)
        self.token_rewards.extend([0.0] * len(token_ids))
        if token_ids:
            self.token_rewards[-1] = reward
        self.score = self.score + reward
        self.turns += 1

    def add_env_tokens(self, token_ids: Sequence[int]) -> None:
        self.response_ids.extend(token_ids)
        self.loss_mask.extend([0] * len(token_ids))
        self.sampler_logprobs.extend([0.0] * len(token_ids))
        self.token_rewards.extend([0.0] * len(token_ids))

    @property
    def scorable(self) -> bool:
        return not math.isnan(self.score)

    @property
    def model_tokens(self) -> int:
        return sum(self.loss_mask)


@dataclass
class TensorBatch:
    """N rows as tensors: `input_ids` = [left-padded prompt (width P) | right-padded response (T)].

    `response_mask` [N, T] is the loss mask (model tokens only); `position_ids` count real tokens so
    padding does not shift positions. Per-row tensors are [N]; per-token tensors are [N, T].
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    prompt_width: int
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    sampler_logprobs: torch.Tensor
    token_rewards: torch.Tensor
    scores: torch.Tensor
    truncated: torch.Tensor
    groups: torch.Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def rows(self, index: torch.Tensor | Sequence[int]) -> TensorBatch:
        """The rows `index`, with columns that are padding in all of them trimmed away."""
        index = torch.as_tensor(index, dtype=torch.long)
        width = self.prompt_width
        attention = self.attention_mask[index]
        prompt_pad = int((attention[:, :width].sum(0) == 0).sum())  # left columns empty in every row
        used = attention[:, width:].sum(0).nonzero()
        keep = int(used.max()) + 1 if len(used) else 1
        columns = torch.cat([torch.arange(prompt_pad, width), torch.arange(width, width + keep)])
        per_token = {"response_ids", "response_mask", "sampler_logprobs", "token_rewards"}
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("input_ids", "attention_mask", "position_ids"):
                values[f.name] = value[index][:, columns]
            elif f.name in per_token:
                values[f.name] = value[index][:, :keep]
            elif f.name != "prompt_width":
                values[f.name] = value[index]
        return replace(self, prompt_width=width - prompt_pad, **values)


def collate(trajectories: Sequence[Trajectory], pad_id: int) -> TensorBatch:
    """Stack trajectories into a `TensorBatch` (prompts left-padded, responses right-padded)."""
    width = max(len(t.prompt_ids) for t in trajectories)
    length = max(max(len(t.response_ids) for t in trajectories), 1)
    rows = len(trajectories)
    input_ids = torch.full((rows, width + length), pad_id, dtype=torch.long)
    attention = torch.zeros((rows, width + length), dtype=torch.long)
    response_mask = torch.zeros((rows, length))
    sampler_logprobs = torch.zeros((rows, length))
    token_rewards = torch.zeros((rows, length))
    for row, t in enumerate(trajectories):
        p, r = len(t.prompt_ids), len(t.response_ids)
        input_ids[row, width - p : width] = torch.tensor(t.prompt_ids, dtype=torch.long)
        input_ids[row, width : width + r] = torch.tensor(t.response_ids, dtype=torch.long)
        attention[row, width - p : width + r] = 1
        response_mask[row, :r] = torch.tensor(t.loss_mask, dtype=torch.float)
        sampler_logprobs[row, :r] = torch.tensor(t.sampler_logprobs)
        token_rewards[row, :r] = torch.nan_to_num(torch.tensor(t.token_rewards), nan=0.0)
    position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
    return TensorBatch(
        input_ids=input_ids,
        attention_mask=attention,
        position_ids=position_ids,
        prompt_width=width,
        response_ids=input_ids[:, width:],
        response_mask=response_mask,
        sampler_logprobs=sampler_logprobs,
        token_rewards=token_rewards,
        scores=torch.tensor([t.score for t in trajectories], dtype=torch.float),
        truncated=torch.tensor([t.truncated for t in trajectories]),
        groups=torch.tensor([t.group for t in trajectories]),
    )
