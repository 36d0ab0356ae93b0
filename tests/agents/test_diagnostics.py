import math

import pytest
import torch

from rlvr.agents.diagnostics import (
    advantage_stats,
    explained_variance,
    group_stats,
    length_stats,
    ratio_stats,
)
from rlvr.agents.losses import policy_loss

NAN = math.nan


def test_ratio_stats_split_clipping_by_the_sign_of_the_advantage():
    logp = torch.tensor([[1.3, 0.7, 1.3, 0.7, 1.0, 5.0]]).log()
    old = torch.zeros_like(logp)
    adv = torch.tensor([[1.0, -1.0, -1.0, 1.0, 1.0, 1.0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    _, ratio = policy_loss(logp, old, adv)
    stats = ratio_stats(ratio, logp, old, adv, mask, 0.2, 0.2)
    assert stats["clip_ratio/high"] == pytest.approx(1 / 5)
    assert stats["clip_ratio/low"] == pytest.approx(1 / 5)
    assert stats["clip_ratio/region"] == pytest.approx(2 / 5)
    log_rho = logp[0, :5]
    assert stats["approx_kl"] == pytest.approx(float(((log_rho.exp() - 1) - log_rho).mean()))
    assert stats["old_approx_kl"] == pytest.approx(float(-log_rho.mean()))
    assert all(isinstance(value, float) for value in stats.values())


def test_ratio_stats_are_zero_on_policy():
    logp = torch.randn(3, 4)
    _, ratio = policy_loss(logp, None, torch.ones(3))
    stats = ratio_stats(ratio, logp, None, torch.ones(3), torch.ones(3, 4), 0.2, 0.28)
    assert stats == dict.fromkeys(stats, 0.0)


def test_explained_variance_matches_the_reference_vector():
    returns = torch.tensor([[1.0, 0.0, 1.0, 0.0, 9.0]])
    values = torch.tensor([[0.8, 0.2, 0.6, 0.4, -9.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    assert explained_variance(values, returns, mask) == pytest.approx(0.6)


def test_explained_variance_is_nan_for_constant_returns():
    assert math.isnan(explained_variance(torch.zeros(1, 3), torch.ones(1, 3), torch.ones(1, 3)))


def test_group_stats_split_zero_std_groups_into_all_correct_and_all_wrong():
    scores = torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0, NAN, 0.0, 0.0, 0.0, NAN, NAN, NAN])
    stats = group_stats(scores, 3)
    assert stats == {
        "frac_reward_zero_std": pytest.approx(3 / 4),
        "frac_all_correct": pytest.approx(1 / 4),
        "frac_all_wrong": pytest.approx(1 / 4),
        "solve_rate": pytest.approx(2 / 4),
        "reward/mean": pytest.approx(4 / 8),
        "reward/std": pytest.approx(float(torch.tensor([1.0, 0, 1, 1, 1, 0, 0, 0]).std())),
        "unscorable": 4.0,
    }


def test_group_stats_take_success_from_the_caller():
    scores = torch.tensor([0.1, 0.1, 1.0, 0.1])
    success = torch.tensor([False, False, True, False])
    stats = group_stats(scores, 2, success=success)
    assert stats["frac_reward_zero_std"] == 0.5
    assert stats["frac_all_wrong"] == 0.5
    assert stats["frac_all_correct"] == 0.0
    assert stats["solve_rate"] == 0.5


def test_length_stats_report_truncation_and_terminated_length():
    stats = length_stats(torch.tensor([3, 8, 5, 8]), torch.tensor([False, True, False, True]))
    assert stats == {
        "completions/mean_length": 6.0,
        "completions/min_length": 3.0,
        "completions/max_length": 8.0,
        "completions/clipped_ratio": 0.5,
        "completions/mean_terminated_length": 4.0,
    }
    assert length_stats(torch.tensor([8]), torch.tensor([True]))["completions/mean_terminated_length"] == 0.0


def test_advantage_stats_over_valid_tokens_or_non_empty_rows():
    adv = torch.tensor([[1.0, 3.0, 100.0], [-2.0, -100.0, -100.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    stats = advantage_stats(adv, mask)
    assert stats["advantages/mean"] == pytest.approx(2 / 3)
    assert stats["advantages/std"] == pytest.approx(float(torch.tensor([1.0, 3.0, -2.0]).std()))
    assert (stats["advantages/min"], stats["advantages/max"]) == (-2.0, 3.0)
    rows = advantage_stats(torch.tensor([0.5, 7.0]), torch.tensor([[1, 0], [0, 0]]))
    assert rows == {
        "advantages/mean": 0.5,
        "advantages/std": 0.0,
        "advantages/min": 0.5,
        "advantages/max": 0.5,
    }
    assert set(advantage_stats(adv, torch.zeros_like(mask)).values()) == {0.0}
