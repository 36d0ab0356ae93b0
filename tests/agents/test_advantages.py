import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlvr.agents.advantages import (
    EMABaseline,
    discounted_returns,
    gae,
    group_advantages,
    place_on_last_token,
    reinforce_pp_advantages,
    reinforce_pp_baseline_advantages,
    rloo_advantages,
)
from rlvr.agents.masked import masked_whiten

NAN = math.nan
R = torch.tensor([1.0, 0.0, 0.0, 1.0])
SIGNS = torch.tensor([1.0, -1.0, -1.0, 1.0])
TWO_GROUPS = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0])


def close(actual: torch.Tensor, expected, atol: float = 1e-6) -> None:
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


def lengths_mask(lengths: list[int], width: int | None = None) -> torch.Tensor:
    width = width or max(lengths)
    return torch.arange(width) < torch.tensor(lengths).unsqueeze(-1)


@pytest.mark.parametrize(
    ("eps", "magnitude"),
    [(1e-4, 0.8658754), (1e-6, 0.8660239), (1e-9, 0.8660254)],
    ids=["trl", "verl", "openrlhf"],
)
def test_grpo_matches_the_reference_eps_variants(eps, magnitude):
    close(group_advantages(R, 4, eps=eps), magnitude * SIGNS)


def test_grpo_default_eps_is_trl():
    close(group_advantages(R, 4), 0.8658754 * SIGNS)


def test_dr_grpo_only_centres():
    close(group_advantages(R, 4, scale="none"), 0.5 * SIGNS)


def test_grpo_batch_scale_uses_group_mean_and_batch_std():
    batch_std = TWO_GROUPS.std()
    group_mean = torch.tensor([0.5] * 4 + [0.75] * 4)
    close(group_advantages(TWO_GROUPS, 4, scale="batch"), (TWO_GROUPS - group_mean) / (batch_std + 1e-4))


def test_grpo_normalises_each_group_by_its_own_statistics():
    advantages = group_advantages(TWO_GROUPS, 4)
    close(advantages[:4], 0.8658754 * SIGNS)
    close(advantages[4:], [0.4999, 0.4999, 0.4999, -1.4997], atol=1e-4)
    close(group_advantages(TWO_GROUPS[4:], 4), 0.25 / (0.5 + 1e-4) * torch.tensor([1.0, 1.0, 1.0, -3.0]))


def test_rloo_matches_the_reference_vectors():
    close(rloo_advantages(R, 4), 2 / 3 * SIGNS)
    close(rloo_advantages(TWO_GROUPS, 4)[4:], [1 / 3, 1 / 3, 1 / 3, -1.0])


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_an_all_equal_group_gets_exactly_zero(scale):
    ones = torch.ones(4)
    assert torch.equal(group_advantages(ones, 4, scale=scale), torch.zeros(4))
    assert torch.equal(group_advantages(ones, 4, scale=scale, eps=1e-9), torch.zeros(4))
    assert torch.equal(rloo_advantages(ones, 4), torch.zeros(4))


def test_round_off_in_an_all_equal_group_is_not_amplified():
    tenths = torch.full((3,), 0.1)
    assert torch.equal(group_advantages(tenths, 3, eps=1e-12), torch.zeros(3))


def test_group_of_one_gets_zero_as_in_trl_not_the_raw_reward_as_in_verl():
    scores = torch.tensor([1.0, 0.0, 1.0])
    for scale in ("group", "batch", "none"):
        assert torch.equal(group_advantages(scores, 1, scale=scale), torch.zeros(3))
    assert torch.equal(rloo_advantages(scores, 1), torch.zeros(3))


def test_unscorable_rows_get_zero_advantage_and_leave_the_baseline():
    with_nan = torch.tensor([1.0, 0.0, NAN, 1.0, 0.0])
    scorable = torch.tensor([1.0, 0.0, 1.0, 0.0])
    grpo = group_advantages(with_nan, 5)
    assert grpo[2].item() == 0.0
    close(grpo[[0, 1, 3, 4]], group_advantages(scorable, 4))
    dr = group_advantages(with_nan, 5, scale="none")
    close(dr[[0, 1, 3, 4]], 0.5 * torch.tensor([1.0, -1.0, 1.0, -1.0]))
    rloo = rloo_advantages(with_nan, 5)
    assert rloo[2].item() == 0.0
    close(rloo[[0, 1, 3, 4]], rloo_advantages(scorable, 4))


def test_unscorable_rows_leave_the_batch_std():
    with_nan = torch.cat([TWO_GROUPS[:4], torch.tensor([NAN]), TWO_GROUPS[4:], torch.tensor([NAN])])
    advantages = group_advantages(with_nan, 5, scale="batch")
    close(advantages[[0, 1, 2, 3, 5, 6, 7, 8]], group_advantages(TWO_GROUPS, 4, scale="batch"))
    assert advantages[4].item() == advantages[9].item() == 0.0


def test_a_group_with_one_scorable_member_gets_zero():
    scores = torch.tensor([NAN, 1.0, NAN, NAN, NAN, NAN])
    for scale in ("group", "batch", "none"):
        assert torch.equal(group_advantages(scores, 3, scale=scale), torch.zeros(6))
    assert torch.equal(rloo_advantages(scores, 3), torch.zeros(6))


def test_scores_that_do_not_split_into_groups_are_rejected():
    with pytest.raises(ValueError, match="group_size=4"):
        group_advantages(torch.ones(6), 4)
    with pytest.raises(ValueError, match="scale"):
        group_advantages(torch.ones(4), 4, scale="rank")  # type: ignore[arg-type]


def loo_loop(scores: list[float], group_size: int) -> list[float]:
    advantages = []
    for start in range(0, len(scores), group_size):
        group = scores[start : start + group_size]
        for i, r in enumerate(group):
            others = [s for j, s in enumerate(group) if j != i and not math.isnan(s)]
            advantages.append(0.0 if math.isnan(r) or not others else r - sum(others) / len(others))
    return advantages


@settings(max_examples=200, deadline=None)
@given(
    group_size=st.integers(1, 6),
    data=st.data(),
)
def test_rloo_equals_the_explicit_leave_one_out_loop(group_size, data):
    n_groups = data.draw(st.integers(1, 4))
    score = st.one_of(st.floats(-10, 10, allow_nan=False), st.just(NAN), st.sampled_from([0.0, 1.0]))
    scores = data.draw(st.lists(score, min_size=group_size * n_groups, max_size=group_size * n_groups))
    actual = rloo_advantages(torch.tensor(scores, dtype=torch.float64), group_size)
    close(actual, loo_loop(scores, group_size), atol=1e-9)


def test_rloo_is_the_rescaled_centred_reward():
    scores = torch.randn(24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    centred = group_advantages(scores, 6, scale="none")
    close(rloo_advantages(scores, 6), 6 / 5 * centred, atol=1e-12)


def test_ema_baseline_uses_the_baseline_from_before_the_batch():
    ema = EMABaseline(decay=0.9)
    close(ema.advantages(torch.tensor([1.0, 0.0, 1.0, 0.0])), [0.5, -0.5, 0.5, -0.5])
    assert ema.baseline == pytest.approx(0.5)
    close(ema.advantages(torch.tensor([1.0, 1.0])), [0.5, 0.5])
    assert ema.baseline == pytest.approx(0.9 * 0.5 + 0.1 * 1.0)


def test_ema_baseline_ignores_unscorable_rows_and_empty_batches():
    ema = EMABaseline(decay=0.5)
    close(ema.advantages(torch.tensor([1.0, NAN, 0.0])), [0.5, 0.0, -0.5])
    assert torch.equal(ema.advantages(torch.tensor([NAN, NAN])), torch.zeros(2))
    assert ema.baseline == pytest.approx(0.5)
    ema.advantages(torch.tensor([NAN, 1.0]))
    assert ema.baseline == pytest.approx(0.75)


def test_ema_baseline_resumes_from_its_state_dict():
    ema = EMABaseline()
    ema.advantages(torch.tensor([0.2, 0.4]))
    resumed = EMABaseline()
    resumed.load_state_dict(ema.state_dict())
    batch = torch.tensor([1.0, 0.0])
    assert torch.equal(resumed.advantages(batch), ema.advantages(batch))
    assert resumed.baseline == ema.baseline


def test_place_on_last_token_puts_the_score_on_each_rows_last_valid_token():
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0], [1, 0, 1]])
    placed = place_on_last_token(torch.tensor([2.0, 3.0, 4.0, NAN]), mask)
    assert placed.tolist() == [[0.0, 2.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_discounted_returns_skip_masked_tokens_so_credit_crosses_turns():
    rewards = torch.tensor([[0.0, 0.5, 7.0, 7.0, 1.0]])
    mask = torch.tensor([[1, 1, 0, 0, 1]])
    close(discounted_returns(rewards, mask, gamma=0.9), [[1.26, 1.4, 0.0, 0.0, 1.0]])
    close(discounted_returns(rewards, mask), [[1.5, 1.5, 0.0, 0.0, 1.0]])


def test_reinforce_pp_two_groups_verl_and_openrlhf():
    rewards = TWO_GROUPS.unsqueeze(-1)
    mask = torch.ones_like(rewards)
    ones, zeros = TWO_GROUPS == 1, TWO_GROUPS == 0
    verl = reinforce_pp_advantages(rewards, mask).squeeze(-1)
    close(verl[ones], torch.full((5,), 0.7245688))
    close(verl[zeros], torch.full((3,), -1.2076147))
    openrlhf = reinforce_pp_advantages(rewards, mask, unbiased=False).squeeze(-1)
    close(openrlhf[ones], torch.full((5,), 0.7745967))
    close(openrlhf[zeros], torch.full((3,), -1.2909944))


def test_reinforce_pp_rows_with_an_empty_mask_contribute_nothing():
    rewards = torch.tensor([[1.0], [0.0], [0.0], [1.0], [9.0]])
    mask = torch.tensor([[1], [1], [1], [1], [0]])
    advantages = reinforce_pp_advantages(rewards, mask)
    close(advantages[:4, 0], 0.8660254 * SIGNS)
    assert advantages[4, 0].item() == 0.0


@pytest.mark.parametrize(
    ("lengths", "unbiased", "magnitude"),
    [([1, 1, 1, 1], True, 0.8660254), ([2, 2, 2, 2], True, 0.9354143), ([2, 2, 2, 2], False, 1.0)],
    ids=["verl-len1", "verl-len2", "openrlhf"],
)
def test_reinforce_pp_baseline_equal_lengths(lengths, unbiased, magnitude):
    mask = lengths_mask(lengths)
    advantages = reinforce_pp_baseline_advantages(R, 4, mask, unbiased=unbiased)
    close(advantages, magnitude * SIGNS.unsqueeze(-1).expand_as(advantages))


@pytest.mark.parametrize(
    ("unbiased", "correct", "wrong"), [(True, 0.5400617, -1.6201852), (False, 0.5773503, -1.7320508)]
)
def test_reinforce_pp_baseline_whitening_is_token_weighted(unbiased, correct, wrong):
    mask = lengths_mask([3, 1, 1, 3])
    advantages = reinforce_pp_baseline_advantages(R, 4, mask, unbiased=unbiased)
    c, w = correct, wrong
    close(advantages, [[c, c, c], [w, 0, 0], [w, 0, 0], [c, c, c]])


def test_reinforce_pp_baseline_excludes_unscorable_rows():
    scores = torch.tensor([1.0, 0.0, NAN, 0.0, 1.0])
    mask = torch.ones(5, 2)
    advantages = reinforce_pp_baseline_advantages(scores, 5, mask)
    assert torch.equal(advantages[2], torch.zeros(2))
    kept = [0, 1, 3, 4]
    close(advantages[kept], reinforce_pp_baseline_advantages(R, 4, torch.ones(4, 2)))


def test_reinforce_pp_baseline_adds_kl_rewards_before_the_returns():
    mask = torch.ones(4, 2)
    kl_rewards = torch.tensor([[0.1, -0.2], [0.0, 0.3], [0.0, 0.0], [-0.1, 0.0]], requires_grad=True)
    advantages = reinforce_pp_baseline_advantages(R, 4, mask, kl_rewards=kl_rewards)
    token_rewards = place_on_last_token(R - 0.5, mask) + kl_rewards.detach()
    close(advantages, masked_whiten(discounted_returns(token_rewards, mask), mask))
    assert not advantages.requires_grad


V = torch.tensor([[0.5, 0.6, 0.8]])
GAE_MASK = torch.ones(1, 3)


def test_gae_lambda_one_is_return_minus_value():
    advantages, returns = gae(torch.tensor([[0.0, 0.0, 1.0]]), V, GAE_MASK, lam=1.0)
    close(advantages, [[0.5, 0.4, 0.2]])
    close(returns, [[1.0, 1.0, 1.0]])


def test_gae_lambda_095_and_its_whitened_values():
    advantages, returns = gae(torch.tensor([[0.0, 0.0, 1.0]]), V, GAE_MASK, lam=0.95)
    close(advantages, [[0.4705, 0.39, 0.2]])
    close(returns, [[0.9705, 0.99, 1.0]])
    close(masked_whiten(advantages, GAE_MASK), [[0.842364, 0.262789, -1.105153]])


def test_gae_with_kl_in_the_reward():
    kl = torch.tensor([[0.1, -0.05, 0.2]])
    rewards = -0.1 * kl + place_on_last_token(torch.tensor([1.0]), GAE_MASK)
    close(rewards, [[-0.01, 0.005, 0.98]])
    advantages, returns = gae(rewards, V, GAE_MASK, lam=0.95)
    close(advantages, [[0.4472, 0.376, 0.18]])
    close(returns, [[0.9472, 0.976, 0.98]])


def test_gae_skips_masked_env_tokens():
    rewards = torch.tensor([[0.0, 5.0, 5.0, 0.0, 1.0, 3.0, 0.0]])
    values = torch.tensor([[0.5, 9.0, 9.0, 0.6, 0.8, 7.0, 9.0]])
    mask = torch.tensor([[1, 0, 0, 1, 1, 0, 0]])
    advantages, returns = gae(rewards, values, mask, lam=0.95)
    assert advantages[0, [1, 2, 5, 6]].tolist() == [0.0] * 4
    assert returns[0, [1, 2, 5, 6]].tolist() == [0.0] * 4
    close(advantages[0, [0, 3, 4]], [0.4705, 0.39, 0.2])
    close(returns[0, [0, 3, 4]], [0.9705, 0.99, 1.0])


def test_gae_output_is_detached():
    values = V.clone().requires_grad_()
    advantages, returns = gae(torch.zeros(1, 3), values, GAE_MASK)
    assert not advantages.requires_grad and not returns.requires_grad
