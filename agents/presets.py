"""The `--algo` presets: each names an advantage estimator and the loss settings of its paper.

A preset only fills the config fields the user left unset (ALGORITHMS.md §7 "Presets").
"""

from __future__ import annotations

from typing import Any

#: algo -> default values of the algorithm fields of `TrainConfig`.
PRESETS: dict[str, dict[str, Any]] = {
    # Williams 1992 with an EMA baseline: no ratio, seq-mean-token-sum (seed eq. 6.22; ALGORITHMS.md §2.1).
    "reinforce": {
        "advantage": "ema",
        "loss_agg": "seq-mean-token-sum",
        "use_ratio": False,
        "beta": 0.0,
        "kl_placement": "reward",
        "kl_estimator": "k1",
    },
    # Ahmadian et al. 2024: leave-one-out baseline, k1 KL in the reward (TRL RLOOTrainer; §2.2).
    "rloo": {
        "advantage": "rloo",
        "loss_agg": "token-mean",
        "beta": 0.05,
        "kl_placement": "reward",
        "kl_estimator": "k1",
    },
    # DeepSeekMath: group z-score, seq-mean-token-mean, k3 KL in the loss (§2.3).
    "grpo": {
        "advantage": "grpo",
        "loss_agg": "seq-mean-token-mean",
        "beta": 0.04,
        "kl_placement": "loss",
        "kl_estimator": "k3",
    },
    # Liu et al. 2025: no std, constant normaliser N * L_max, no KL (§2.4).
    "dr_grpo": {"advantage": "dr_grpo", "loss_agg": "dr-grpo", "beta": 0.0},
    # Yu et al. 2025: clip-higher, token-mean, dynamic sampling, soft overlong punishment (§2.5).
    "dapo": {
        "advantage": "grpo",
        "loss_agg": "token-mean",
        "eps_high": 0.28,
        "beta": 0.0,
        "dynamic_sampling": True,
        "overlong_buffer": 0.25,
    },
    # Hu 2025: token-level returns with k1 KL in the reward, whitened over the batch (§2.6).
    "reinforce_pp": {
        "advantage": "reinforce_pp",
        "loss_agg": "token-mean",
        "beta": 0.01,
        "kl_placement": "reward",
        "kl_estimator": "k1",
    },
    "reinforce_pp_baseline": {
        "advantage": "reinforce_pp_baseline",
        "loss_agg": "token-mean",
        "beta": 0.01,
        "kl_placement": "reward",
        "kl_estimator": "k1",
    },
    # PPO with a value head and GAE (Schulman et al. 2017; TRL experimental PPO defaults; §2.7).
    "ppo": {
        "advantage": "gae",
        "loss_agg": "token-mean",
        "beta": 0.05,
        "kl_placement": "reward",
        "kl_estimator": "k1",
        "epochs": 4,
        "minibatches": 2,
        "gamma": 1.0,
        "lam": 0.95,
        "vf_coef": 0.1,
        "value_clip": 0.2,
    },
}

#: Defaults of the algorithm fields no preset sets.
COMMON: dict[str, Any] = {
    "use_ratio": True,
    "eps_low": 0.2,
    "eps_high": 0.2,
    "dual_clip": None,
    "kl_placement": "loss",
    "kl_estimator": "k3",
    "epochs": 1,
    "minibatches": 1,
    "gamma": 1.0,
    "lam": 1.0,
    "vf_coef": 0.0,
    "value_clip": None,
    "dynamic_sampling": False,
    "overlong_buffer": None,
}

ALGOS = tuple(PRESETS)


def preset_values(algo: str) -> dict[str, Any]:
    """Every algorithm field's value under `algo` (the preset over the common defaults)."""
    if algo not in PRESETS:
        raise ValueError(f"algo={algo!r}: pass one of {', '.join(ALGOS)}")
    return {**COMMON, **PRESETS[algo]}
