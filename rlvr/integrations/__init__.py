"""Adapters that put rlvr rewards and envs inside third-party RL trainers (TRL, verl, OpenRLHF).

One module per trainer, each importable without that trainer installed; all of them are thin glue
over `rlvr.integrations.scoring.RewardScorer`, which builds VerifyRequests from a trainer's rows and
sends them in one batch to the in-process core or a running `rlvr serve`:

    from rlvr.integrations.trl import reward_func          # GRPOTrainer(reward_funcs=[reward_func("r1_math")])
    from rlvr.integrations.verl import compute_score       # custom_reward_function.path
    from rlvr.integrations.openrlhf import reward_func     # --reward.remote_url file form, or POST /get_reward

See docs/integrations.md for one recipe per trainer.
"""

from rlvr.integrations.scoring import (
    CompletionFormatError,
    MissingGroundTruth,
    RewardScorer,
    Sample,
    UnknownDataSource,
    VerifierUnavailable,
)

__all__ = [
    "CompletionFormatError",
    "MissingGroundTruth",
    "RewardScorer",
    "Sample",
    "UnknownDataSource",
    "VerifierUnavailable",
]
