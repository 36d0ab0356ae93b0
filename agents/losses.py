"""Policy-loss kernels, loss aggregation modes, KL estimators and controllers, value loss.

Shapes: N rows, T completion tokens, ``mask`` [N, T] 0/1 on the model tokens that count in the loss. Losses
are per token and minimised; ``aggregate`` turns them into the scalar to backpropagate. Only ``logp`` (and
``values`` in the value loss) carry gradient: old logprobs, advantages, returns and the reference are
detached here (ALGORITHMS.md §1.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

import torch
from torch import Tensor

from rlvr.agents.masked import masked_count, masked_sum

AGGREGATIONS = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "dr-grpo",
)
KLKind = Literal["k1", "k2", "k3"]


def _per_token(advantages: Tensor, like: Tensor) -> Tensor:
    """Advantages [N] (one per row) as [N, 1] so they broadcast over tokens; [N, T] unchanged."""
    advantages = advantages.detach()
    return advantages.unsqueeze(-1) if advantages.dim() < like.dim() else advantages


def policy_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    dual_clip: float | None = None,
    max_log_ratio: float = 20.0,
) -> tuple[Tensor, Tensor]:
    """PPO clipped surrogate per token: (loss [N, T], ratio [N, T] detached) (ALGORITHMS.md §1.2).

    rho = exp(clamp(logp - old, +-max_log_ratio)) (verl and OpenRLHF clamp at 20);
    l = -min(rho * A, clip(rho, 1 - eps_low, 1 + eps_high) * A), whose gradient is 0 where the clipped branch
    wins. ``dual_clip`` c > 1: l = min(l, -c * A) where A < 0 (verl ``clip_ratio_c`` CA L1160-1251, OpenRLHF
    ``--actor.dual_clip``). ``old_logp=None`` means old = sg(logp): rho = 1 and the gradient of -A * logp, i.e.
    REINFORCE (TRL grpo_trainer.py L3037 with mu = 1). ``advantages`` is [N] (per row) or [N, T].
    """
    old = logp.detach() if old_logp is None else old_logp.detach()
    adv = _per_token(advantages, logp)
    log_ratio = (logp - old).clamp(-max_log_ratio, max_log_ratio)
    ratio = log_ratio.exp()
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    loss = torch.maximum(unclipped, clipped)
    if dual_clip is not None:
        if dual_clip <= 1.0:
            raise ValueError(f"dual_clip={dual_clip} must be > 1 (verl uses 3.0), or None to disable it")
        loss = torch.where(adv < 0, torch.minimum(loss, -dual_clip * adv), loss)
    return loss, ratio.detach()


def sequence_policy_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    max_log_ratio: float = 20.0,
) -> tuple[Tensor, Tensor]:
    """Sequence-level clipped surrogate (TRL RLOO, rloo_trainer.py L1683-1694; ALGORITHMS.md §2.2).

    rho_i = exp(sum_t M * (logp - old)), l_i = -min(rho_i * A_i, clip(rho_i, 1 - eps_low, 1 + eps_high) * A_i)
    with ``advantages`` [N]. Returns (l_i on every valid token of row i [N, T], rho_i broadcast to [N, T],
    detached): ``aggregate(..., "seq-mean-token-mean")`` then gives TRL's mean over sequences.
    """
    old = logp.detach() if old_logp is None else old_logp.detach()
    adv = advantages.detach()
    log_ratio = masked_sum(logp - old, mask, dim=-1).clamp(-max_log_ratio, max_log_ratio)
    ratio = log_ratio.exp()
    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - eps_low, 1.0 + eps_high)
    loss = torch.maximum(unclipped, clipped)
    per_token = torch.where(mask.bool(), loss.unsqueeze(-1), 0.0)
    return per_token, ratio.detach().unsqueeze(-1).expand_as(logp)


def _at_least_one(count: float | Tensor) -> float | Tensor:
    return count.clamp(min=1) if isinstance(count, Tensor) else max(float(count), 1.0)


def aggregate(
    per_token: Tensor,
    mask: Tensor,
    mode: str,
    *,
    num_tokens: float | Tensor | None = None,
    num_sequences: float | Tensor | None = None,
    max_length: int | None = None,
) -> Tensor:
    """Reduce a per-token loss [N, T] to the scalar to backpropagate (ALGORITHMS.md §1.3).

    - "token-mean" (DAPO; TRL ``dapo`` L2427, L3140; verl default CA L1025): sum M*l / num_tokens.
    - "seq-mean-token-mean" (GRPO paper; TRL ``grpo``): sum_i (sum_t M*l / |o_i|) / num_sequences.
    - "seq-mean-token-sum" (REINFORCE, seed eq. 6.22; verl): sum M*l / num_sequences.
    - "seq-mean-token-sum-norm" (verl, no 1/N): sum M*l / L_max.
    - "dr-grpo" (TRL ``dr_grpo``): sum M*l / (num_sequences * L_max).

    ``num_tokens`` / ``num_sequences`` are the normalisers of the whole optimizer step (all micro-batches and
    ranks, pitfall 2), so summing the micro-batch losses gives the full-batch loss; None uses this batch's
    own (sum M and N, empty rows included as in TRL). ``max_length`` is L_max, T when None (verl's default).
    """
    if mode not in AGGREGATIONS:
        raise ValueError(f"unknown loss aggregation {mode!r}; accepted modes: {', '.join(AGGREGATIONS)}")
    total = masked_sum(per_token, mask)
    n_tokens = masked_count(per_token, mask) if num_tokens is None else num_tokens
    n_sequences = per_token.shape[0] if num_sequences is None else num_sequences
    l_max = per_token.shape[-1] if max_length is None else max_length
    if mode == "token-mean":
        return total / _at_least_one(n_tokens)
    if mode == "seq-mean-token-mean":
        row_means = masked_sum(per_token, mask, dim=-1) / masked_count(per_token, mask, dim=-1).clamp(min=1)
        return row_means.sum() / _at_least_one(n_sequences)
    if mode == "seq-mean-token-sum":
        return total / _at_least_one(n_sequences)
    if mode == "seq-mean-token-sum-norm":
        return total / l_max
    return total / (_at_least_one(n_sequences) * l_max)


def kl_estimate(logp: Tensor, ref_logp: Tensor, kind: KLKind, *, clamp: float | None = None) -> Tensor:
    """Per-token estimate of KL(pi || ref) from the sampled token's logprobs (ALGORITHMS.md §1.4).

    d = logp - ref; k1 = d, k2 = d^2 / 2, k3 = exp(-d) - 1 + d >= 0 (verl ``low_var_kl``, CA L1867; the
    exponent is bounded to +-20 as in verl so it cannot overflow). ``clamp`` bounds the estimate to +-clamp
    (verl and OpenRLHF ``compute_approx_kl``, models/utils.py L64, use 10). In the loss k1 has zero expected
    gradient, k3 is biased and k2 gives the reverse-KL gradient on-policy (pitfall 4).
    """
    d = logp - ref_logp.detach()
    if kind == "k1":
        kl = d
    elif kind == "k2":
        kl = 0.5 * d.square()
    elif kind == "k3":
        bounded = d.clamp(-20.0, 20.0)
        kl = torch.expm1(-bounded) + bounded
    else:
        raise ValueError(f"kind={kind!r} is not one of 'k1', 'k2', 'k3'")
    return kl if clamp is None else kl.clamp(-clamp, clamp)


class KLController(Protocol):
    """A KL coefficient beta that may adapt to the measured KL after each step."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> None: ...

    def state_dict(self) -> dict[str, float]: ...

    def load_state_dict(self, state: Mapping[str, float]) -> None: ...


class FixedKLController:
    """A constant beta (verl ``kl_ctrl.type=fixed``, OpenRLHF ``--algo.kl.init_coef``)."""

    def __init__(self, coef: float) -> None:
        self.value = coef

    def update(self, current_kl: float, n_steps: int) -> None:
        """A fixed beta ignores the measured KL."""

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.value = float(state["value"])


class AdaptiveKLController:
    """Proportional beta controller of Ziegler et al. 2019 (verl ``kl_ctrl.type=adaptive``, OpenRLHF
    ``--algo.kl.target``).

    err = clip(current_kl / target - 1, -0.2, 0.2); beta <- beta * (1 + err * n_steps / horizon).
    """

    def __init__(self, init_coef: float, target: float, horizon: int) -> None:
        if target <= 0 or horizon <= 0:
            raise ValueError(f"target={target} and horizon={horizon} must both be > 0")
        self.value = init_coef
        self.target = target
        self.horizon = horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.value = float(state["value"])


def make_kl_controller(coef: float, target: float | None, horizon: int) -> KLController:
    """Fixed beta = ``coef`` when ``target`` is None, else adaptive from ``coef`` towards ``target``."""
    if target is None:
        return FixedKLController(coef)
    return AdaptiveKLController(coef, target, horizon)


def value_loss(
    values: Tensor, old_values: Tensor, returns: Tensor, *, clip_eps: float | None
) -> tuple[Tensor, Tensor]:
    """Clipped value loss per token: (loss [N, T], clipped indicator [N, T]) (ALGORITHMS.md §2.7).

    l = 0.5 * max((V - R)^2, (V_old + clip(V - V_old, +-clip_eps) - R)^2); 0.5 * (V - R)^2 when ``clip_eps`` is
    None. The indicator is 1.0 where the clipped term is the larger (verl ``vf_clipfrac``; CleanRL ppo.py).
    """
    returns, old_values = returns.detach(), old_values.detach()
    unclipped = (values - returns).square()
    if clip_eps is None:
        return 0.5 * unclipped, torch.zeros_like(unclipped).detach()
    clipped_values = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
    clipped = (clipped_values - returns).square()
    return 0.5 * torch.maximum(unclipped, clipped), (clipped > unclipped).to(values.dtype)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """H = -sum_v p log p over the last axis, [..., V] -> [...] (ALGORITHMS.md §4; CleanRL ``probs.entropy()``).

    log p = z - logsumexp(z) through ``log_softmax``, stable for large logits. Logits of -inf (top-k / top-p
    filtered) count as probability 0 instead of producing 0 * inf = NaN.
    """
    logp = torch.log_softmax(logits.clamp(min=torch.finfo(logits.dtype).min), dim=-1)
    return -(logp.exp() * logp).sum(-1)
