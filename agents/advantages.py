"""Advantage estimators: group-relative, leave-one-out, EMA baseline, REINFORCE++ whitening, GAE.

Conventions: N rows, T completion tokens, ``mask`` [N, T] is 0/1 on the model tokens that count in the loss.
Group estimators take groups of ``group_size`` consecutive rows (the G completions of one prompt).
Unscorable rows (TIMEOUT / ERROR / INVALID_REQUEST) arrive as NaN scores: they are left out of every
baseline, mean, std and whitening statistic and get advantage exactly 0 (ALGORITHMS.md §5 pitfall 10, as TRL
does for ``None`` rewards, grpo_trainer.py L2676-2730). Every output is detached (§1.5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import torch
from torch import Tensor

from rlvr.agents.masked import masked_mean, masked_sum, masked_var, masked_whiten

Scale = Literal["group", "batch", "none"]
#: (values, mask, unbiased) -> whitened values: `masked_whiten`, or a data-parallel global version.
Whiten = Callable[[Tensor, Tensor, bool], Tensor]


def split_groups(scores: Tensor, group_size: int) -> tuple[Tensor, Tensor]:
    """``scores`` [N] viewed as [N / G, G], one row per prompt (detached), and its scorable (non-NaN) mask."""
    if group_size < 1 or scores.numel() % group_size:
        raise ValueError(
            f"{scores.numel()} scores do not split into groups of group_size={group_size} consecutive rows; "
            "pass N = B * G scores with each prompt's G completions adjacent"
        )
    grouped = scores.detach().reshape(-1, group_size)
    return grouped, ~grouped.isnan()


def no_reward_spread(grouped: Tensor, scorable: Tensor) -> Tensor:
    """[B, 1] bool: groups with fewer than 2 scorable members or all scorable rewards equal (no signal)."""
    highest = torch.where(scorable, grouped, -torch.inf).amax(-1, keepdim=True)
    lowest = torch.where(scorable, grouped, torch.inf).amin(-1, keepdim=True)
    return (scorable.sum(-1, keepdim=True) < 2) | (highest == lowest)


def group_advantages(scores: Tensor, group_size: int, *, scale: Scale = "group", eps: float = 1e-4) -> Tensor:
    """GRPO / Dr.GRPO advantage per row, [N] -> [N] (ALGORITHMS.md §2.3-2.4).

    A_i = (r_i - mean_G r) / (std_G r + eps), mean and unbiased std over the scorable members of the group.
    ``scale``: "group" (GRPO), "batch" (group mean, std over all scorable rows of the batch) or "none"
    (Dr.GRPO: A_i = r_i - mean_G r). TRL grpo_trainer.py L2687-2707 (eps 1e-4, the default here); verl CA
    L267-331 uses eps 1e-6, OpenRLHF EM L270 1e-9.
    A group with fewer than 2 scorable members, or whose scorable rewards are all equal, gets 0: TRL forces
    its NaN std to 0, while verl gives a singleton group its raw reward (mean 0, std 1).
    """
    grouped, scorable = split_groups(scores, group_size)
    n = scorable.sum(-1, keepdim=True)
    mean = masked_mean(grouped, scorable, dim=-1).unsqueeze(-1)
    centred = torch.where(scorable, grouped - mean, 0.0)
    if scale == "group":
        std = (centred.square().sum(-1, keepdim=True) / (n - 1).clamp(min=1)).sqrt()
        advantages = centred / (std + eps)
    elif scale == "batch":
        advantages = centred / (masked_var(grouped, scorable).sqrt() + eps)
    elif scale == "none":
        advantages = centred
    else:
        raise ValueError(f"scale={scale!r} is not one of 'group', 'batch', 'none'")
    # An all-equal group would divide round-off in its mean by a round-off std (pitfall 3): force 0.
    return torch.where(no_reward_spread(grouped, scorable), 0.0, advantages).reshape(scores.shape)


def rloo_advantages(scores: Tensor, group_size: int) -> Tensor:
    """RLOO advantage per row, [N] -> [N] (ALGORITHMS.md §2.2).

    A_i = r_i - (1 / (n - 1)) sum_{j != i} r_j over the n scorable members (= n / (n - 1) * (r_i - mean)).
    TRL rloo_trainer.py L1544-1552 (NaN-aware), verl CA L477, OpenRLHF EM L264. 0 when n < 2, where verl
    returns the raw reward.
    """
    grouped, scorable = split_groups(scores, group_size)
    n = scorable.sum(-1, keepdim=True)
    total = masked_sum(grouped, scorable, dim=-1).unsqueeze(-1)
    leave_one_out_mean = (total - grouped) / (n - 1).clamp(min=1)
    advantages = torch.where(scorable & (n >= 2), grouped - leave_one_out_mean, 0.0)
    return advantages.reshape(scores.shape)


class EMABaseline:
    """REINFORCE baseline b: an exponential moving average of the batch mean reward (ALGORITHMS.md §2.1).

    A_i = r_i - b with b from before this batch (on the first batch, the batch mean), then
    b <- decay * b + (1 - decay) * mean(scorable r). No reference implementation ships it; decay 0.9 is ours.
    A batch with no scorable row leaves b unchanged.
    """

    def __init__(self, decay: float = 0.9) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay={decay} must lie in [0, 1]")
        self.decay = decay
        self.baseline: float | None = None

    def advantages(self, scores: Tensor, batch_mean: float | None = None) -> Tensor:
        """r - b per row, [N] -> [N]; NaN rows get 0 and do not move b.

        `batch_mean` overrides the mean of this batch's scorable rows (data parallel: the global mean,
        so every rank keeps the same b).
        """
        scores = scores.detach()
        scorable = ~scores.isnan()
        if batch_mean is None:
            if not scorable.any():
                return torch.zeros_like(scores)
            batch_mean = float(masked_mean(scores, scorable))
        baseline = batch_mean if self.baseline is None else self.baseline
        self.baseline = self.decay * baseline + (1.0 - self.decay) * batch_mean
        return torch.where(scorable, scores - baseline, 0.0)

    def state_dict(self) -> dict[str, float | None]:
        return {"baseline": self.baseline}

    def load_state_dict(self, state: Mapping[str, float | None]) -> None:
        self.baseline = state["baseline"]


def place_on_last_token(scores: Tensor, mask: Tensor) -> Tensor:
    """Token rewards [N, T]: each row's score on its last valid token, 0 elsewhere (NaN scores -> 0).

    ALGORITHMS.md §2.6-2.7 (TRL ppo_trainer.py L772-779). A row with an empty mask gets no reward.
    """
    valid = mask.bool()
    positions = torch.arange(valid.shape[-1], device=valid.device)
    last = torch.where(valid, positions, -1).amax(-1, keepdim=True)
    on_last = (positions == last) & ~scores.isnan().unsqueeze(-1)
    return torch.where(on_last, scores.detach().unsqueeze(-1), 0.0)


def discounted_returns(token_rewards: Tensor, mask: Tensor, gamma: float = 1.0) -> Tensor:
    """R_t = sum over valid k >= t of gamma^(j_k - j_t) r_k, [N, T] -> [N, T] (ALGORITHMS.md §2.6).

    j counts valid tokens: gamma applies per valid token only, and masked (env / tool) tokens carry the
    running return through unchanged, so a final reward reaches the earlier turns of a multi-turn episode.
    Rewards on masked tokens are ignored; the output is 0 there. verl ``reinforce_plus_plus`` (CA L583) instead resets the return at
    every M = 0 token, which is harmless after EOS but cuts the credit across env tokens.
    """
    rewards, valid = token_rewards.detach(), mask.bool()
    running = rewards.new_zeros(rewards.shape[0])
    returns = []
    for t in reversed(range(rewards.shape[1])):
        running = torch.where(valid[:, t], rewards[:, t] + gamma * running, running)
        returns.append(torch.where(valid[:, t], running, 0.0))
    return torch.stack(returns[::-1], dim=1)


def reinforce_pp_advantages(
    token_rewards: Tensor,
    mask: Tensor,
    *,
    gamma: float = 1.0,
    unbiased: bool = True,
    whiten: Whiten = masked_whiten,
) -> Tensor:
    """REINFORCE++: A = whiten(R) over all valid tokens of the batch, [N, T] -> [N, T] (ALGORITHMS.md §2.6).

    R from ``discounted_returns``; (R - mean) / sqrt(var + 1e-8). ``unbiased=True`` is verl (CA L583), False is
    OpenRLHF ``reinforce`` (EM L264-331). The statistics are token-weighted, so long rows weigh more; rows
    with an empty mask contribute nothing. ``whiten`` replaces the local statistics (e.g. with ones summed
    over data-parallel ranks, so every rank whitens by the global batch).
    """
    returns = discounted_returns(token_rewards, mask, gamma)
    return whiten(returns, mask, unbiased)


def reinforce_pp_baseline_advantages(
    scores: Tensor,
    group_size: int,
    mask: Tensor,
    *,
    kl_rewards: Tensor | None = None,
    gamma: float = 1.0,
    unbiased: bool = True,
    whiten: Whiten = masked_whiten,
) -> Tensor:
    """REINFORCE++-baseline, [N] scores -> [N, T] advantages (ALGORITHMS.md §2.6).

    r_i - mean_G r (scorable members) on each row's last valid token, plus ``kl_rewards`` (the per-token KL
    penalty as a reward, -beta * k(old, ref)), then ``reinforce_pp_advantages``. verl
    ``reinforce_plus_plus_baseline`` (CA L425, unbiased), OpenRLHF ``reinforce_baseline`` (EM L264-331,
    biased). Unscorable rows get 0 and are left out of the whitening.
    """
    grouped, scorable = split_groups(scores, group_size)
    centred = grouped - masked_mean(grouped, scorable, dim=-1).unsqueeze(-1)
    token_rewards = place_on_last_token(centred.reshape(scores.shape), mask)
    if kl_rewards is not None:
        token_rewards = token_rewards + kl_rewards.detach()
    scorable_mask = mask.bool() & ~scores.isnan().unsqueeze(-1)
    return reinforce_pp_advantages(
        token_rewards, scorable_mask, gamma=gamma, unbiased=unbiased, whiten=whiten
    )


def gae(
    token_rewards: Tensor, values: Tensor, mask: Tensor, *, gamma: float = 1.0, lam: float = 0.95
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation, [N, T] -> (advantages, returns) [N, T] (ALGORITHMS.md §2.7).

    delta_t = r_t + gamma * V_{t+1} - V_t (V = 0 past the end), A_t = delta_t + gamma * lam * A_{t+1},
    R_t = A_t + V_t, over valid tokens only: a masked token is skipped, the next value and the running A
    carried through it (verl CA L215-264; CleanRL ppo.py), and its reward ignored. 0 on masked tokens. Not
    whitened: the caller applies ``masked_whiten`` to the advantages.
    """
    rewards, values, valid = token_rewards.detach(), values.detach(), mask.bool()
    next_value = values.new_zeros(values.shape[0])
    last_gae = values.new_zeros(values.shape[0])
    advantages = []
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_gae = torch.where(valid[:, t], delta + gamma * lam * last_gae, last_gae)
        next_value = torch.where(valid[:, t], values[:, t], next_value)
        advantages.append(torch.where(valid[:, t], last_gae, 0.0))
    advantage = torch.stack(advantages[::-1], dim=1)
    returns = torch.where(valid, advantage + values, 0.0)
    return advantage, returns
