"""Gymnasium wrappers for the rlvr envs: behaviour added around an env instead of constructor flags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import VectorWrapper


class UnknownRewardsAsNaN(VectorWrapper):
    """Rewards the verifier could not decide become NaN (a `TextVectorEnv`'s `info["reward_known"]`
    False: TIMEOUT, ERROR, INVALID_REQUEST), so a trainer cannot take them for wrong answers (TRL
    maps them the same way; ALGORITHMS.md pitfall 10). `make_vec(..., nan_rewards=True)` applies it.
    """

    def step(self, actions: Sequence[str]) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        observations, rewards, terminated, truncated, info = self.env.step(actions)
        return observations, np.where(info["reward_known"], rewards, np.nan), terminated, truncated, info
