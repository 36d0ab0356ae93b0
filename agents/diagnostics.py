"""Per-step health metrics (ALGORITHMS.md §4).

Every function returns plain python floats keyed by TRL / verl style metric names, ready for a logger.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rlvr.agents.advantages import no_reward_spread, split_groups
from rlvr.agents.masked import masked_mean, masked_var


def ratio_stats(
    ratio: Tensor,
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    eps_low: float,
    eps_high: float,
) -> dict[str, float]:
    """KL between the rollout and the current policy, and sign-aware clip fractions, over valid tokens.

    - approx_kl: k3 (rho - 1) - log rho (CleanRL ppo.py L257);
    - old_approx_kl: k1, -log rho = old - logp (CleanRL; verl ``actor/ppo_kl``);
    - clip_ratio/low: rho < 1 - eps_low and A < 0; clip_ratio/high: rho > 1 + eps_high and A > 0;
      clip_ratio/region: either (TRL ``clip_ratio/{low,high,region}_mean``). CleanRL's |rho - 1| > eps counts
      tokens whose clip does not bind.

    ``old_logp=None`` is the REINFORCE case (old = logp), ``advantages`` is [N] or [N, T].
    """
    log_ratio = torch.zeros_like(logp) if old_logp is None else (logp - old_logp).detach()
    adv = advantages.detach()
    if adv.dim() < ratio.dim():
        adv = adv.unsqueeze(-1)
    low = (ratio < 1.0 - eps_low) & (adv < 0)
    high = (ratio > 1.0 + eps_high) & (adv > 0)
    return {
        "approx_kl": float(masked_mean(torch.expm1(log_ratio) - log_ratio, mask)),
        "old_approx_kl": float(masked_mean(-log_ratio, mask)),
        "clip_ratio/low": float(masked_mean(low.float(), mask)),
        "clip_ratio/high": float(masked_mean(high.float(), mask)),
        "clip_ratio/region": float(masked_mean((low | high).float(), mask)),
    }


def explained_variance(values: Tensor, returns: Tensor, mask: Tensor) -> float:
    """1 - Var(R - V) / Var(R) over valid tokens; NaN when Var(R) = 0 (CleanRL ppo.py L297)."""
    values, returns = values.detach(), returns.detach()
    var_returns = float(masked_var(returns, mask, unbiased=False))
    if var_returns == 0.0:
        return math.nan
    return 1.0 - float(masked_var(returns - values, mask, unbiased=False)) / var_returns


def group_stats(scores: Tensor, group_size: int, success: Tensor | None = None) -> dict[str, float]:
    """Group-level reward health over groups of ``group_size`` consecutive rows.

    - frac_reward_zero_std: share of groups with no reward spread among their scorable members (fewer than 2,
      or all equal), which get A = 0 (TRL ``frac_reward_zero_std``);
    - frac_all_correct / frac_all_wrong: those groups split by whether every / no scorable member succeeded;
    - solve_rate: share of groups with at least one success (pass@G);
    - reward/mean, reward/std (unbiased): over scorable rows; unscorable: the count of NaN scores.

    ``success`` [N] bool defaults to score > 0; an unscorable row never succeeds.
    """
    grouped, scorable = split_groups(scores, group_size)
    succeeded = (grouped > 0 if success is None else success.bool().reshape(grouped.shape)) & scorable
    has_scorable = scorable.any(-1)
    zero_std = no_reward_spread(grouped, scorable).squeeze(-1)
    every_success = (succeeded == scorable).all(-1) & has_scorable
    some_success = succeeded.any(-1)
    return {
        "frac_reward_zero_std": float(zero_std.float().mean()),
        "frac_all_correct": float((zero_std & every_success).float().mean()),
        "frac_all_wrong": float((zero_std & has_scorable & ~some_success).float().mean()),
        "solve_rate": float(some_success.float().mean()),
        "reward/mean": float(masked_mean(grouped, scorable)),
        "reward/std": float(masked_var(grouped, scorable).sqrt()),
        "unscorable": float((~scorable).sum()),
    }


def length_stats(lengths: Tensor, truncated: Tensor) -> dict[str, float]:
    """Completion lengths in tokens (TRL ``completions/*``); clipped_ratio is the truncated (no EOS) share.

    mean_terminated_length is over rows that stopped on EOS, 0 when none did.
    """
    lengths = lengths.detach().float()
    terminated = ~truncated.bool()
    return {
        "completions/mean_length": float(lengths.mean()),
        "completions/min_length": float(lengths.min()),
        "completions/max_length": float(lengths.max()),
        "completions/clipped_ratio": float(truncated.float().mean()),
        "completions/mean_terminated_length": float(masked_mean(lengths, terminated)),
    }


def advantage_stats(advantages: Tensor, mask: Tensor) -> dict[str, float]:
    """Mean, unbiased std, min and max of the advantages on valid tokens ([N, T]) or non-empty rows ([N]).

    All 0 when nothing is valid; std is 0 for a single value.
    """
    valid = mask.bool()
    if advantages.dim() < valid.dim():
        valid = valid.any(-1)
    kept = advantages.detach()[valid].float()
    if kept.numel() == 0:
        return dict.fromkeys(("advantages/mean", "advantages/std", "advantages/min", "advantages/max"), 0.0)
    return {
        "advantages/mean": float(kept.mean()),
        "advantages/std": float(kept.std()) if kept.numel() > 1 else 0.0,
        "advantages/min": float(kept.min()),
        "advantages/max": float(kept.max()),
    }
