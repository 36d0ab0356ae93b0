import math

import pytest
import torch

from rlvr.agents.losses import (
    AGGREGATIONS,
    AdaptiveKLController,
    FixedKLController,
    aggregate,
    entropy_from_logits,
    kl_estimate,
    make_kl_controller,
    policy_loss,
    sequence_policy_loss,
    value_loss,
)


def close(actual: torch.Tensor, expected, atol: float = 1e-6) -> None:
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


def at_ratio(*ratios: float) -> tuple[torch.Tensor, torch.Tensor]:
    """logp (with grad) and old logprobs whose ratio exp(logp - old) is ``ratios``, one token per row."""
    logp = torch.tensor(ratios, dtype=torch.float64).log().unsqueeze(-1).requires_grad_()
    return logp, torch.zeros_like(logp)


@pytest.mark.parametrize(
    ("rho", "adv", "loss", "grad"),
    [
        (1.3, 1.0, -1.2, 0.0),
        (0.7, -1.0, 0.8, 0.0),
        (1.1, 1.0, -1.1, -1.1),
        (0.7, 1.0, -0.7, -0.7),
        (1.3, -1.0, 1.3, 1.3),
        (4.0, -1.0, 4.0, 4.0),
    ],
)
def test_clip_kernel_values_and_zero_gradient_where_the_clipped_branch_wins(rho, adv, loss, grad):
    logp, old = at_ratio(rho)
    per_token, ratio = policy_loss(logp, old, torch.tensor([adv], dtype=torch.float64))
    close(per_token, [[loss]])
    close(ratio, [[rho]])
    per_token.sum().backward()
    assert logp.grad is not None
    close(logp.grad, [[grad]])


def test_dual_clip_caps_the_loss_of_negative_advantages_at_c_times_a():
    logp, old = at_ratio(4.0, 4.0)
    adv = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    per_token, _ = policy_loss(logp, old, adv, dual_clip=3.0)
    close(per_token, [[3.0], [-1.2]])
    per_token.sum().backward()
    assert logp.grad is not None
    close(logp.grad, [[0.0], [0.0]])
    with pytest.raises(ValueError, match="dual_clip"):
        policy_loss(logp, old, adv, dual_clip=0.5)


def test_clip_higher_widens_only_the_upper_bound():
    logp, old = at_ratio(1.25)
    adv = torch.tensor([1.0], dtype=torch.float64)
    close(policy_loss(logp, old, adv, eps_high=0.2)[0], [[-1.2]])
    close(policy_loss(logp, old, adv, eps_high=0.28)[0], [[-1.25]])


def test_policy_loss_without_old_logprobs_has_the_reinforce_gradient():
    logp = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_()
    adv = torch.tensor([1.5, -0.5, 0.0], dtype=torch.float64)
    per_token, ratio = policy_loss(logp, None, adv)
    assert torch.equal(ratio, torch.ones_like(ratio))
    assert not ratio.requires_grad
    (grad,) = torch.autograd.grad(per_token.sum(), logp)
    (reinforce_grad,) = torch.autograd.grad((-adv.unsqueeze(-1) * logp).sum(), logp)
    close(grad, reinforce_grad, atol=1e-12)


def test_ratio_is_one_before_any_update():
    logp = torch.randn(2, 5)
    _, ratio = policy_loss(logp, logp.clone(), torch.ones(2))
    assert torch.equal(ratio, torch.ones(2, 5))


def test_row_advantages_broadcast_like_token_advantages():
    logp = torch.randn(2, 3, generator=torch.Generator().manual_seed(2))
    old = torch.randn(2, 3, generator=torch.Generator().manual_seed(3))
    adv = torch.tensor([0.7, -1.2])
    row, _ = policy_loss(logp, old, adv)
    token, _ = policy_loss(logp, old, adv.unsqueeze(-1).expand(2, 3))
    assert torch.equal(row, token)


def test_log_ratio_is_clamped():
    logp = torch.tensor([[50.0, -50.0]])
    _, ratio = policy_loss(logp, torch.zeros_like(logp), torch.ones(1), max_log_ratio=20.0)
    close(ratio, [[math.exp(20.0), math.exp(-20.0)]], atol=1.0)
    assert torch.isfinite(ratio).all()


def test_sequence_policy_loss_clips_the_summed_log_ratio():
    logp = torch.tensor([[0.1, 0.2, 9.0], [-0.1, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    adv = torch.tensor([1.0, 1.0], dtype=torch.float64)
    per_token, ratio = sequence_policy_loss(logp, torch.zeros_like(logp), adv, mask)
    rho = [math.exp(0.3), math.exp(-0.1)]
    close(ratio, [[rho[0]] * 3, [rho[1]] * 3])
    close(per_token, [[-1.2, -1.2, 0.0], [-rho[1]] * 3])
    loss = aggregate(per_token, mask, "seq-mean-token-mean")
    close(loss, (-1.2 - rho[1]) / 2)
    loss.backward()
    assert logp.grad is not None
    close(logp.grad, [[0.0, 0.0, 0.0], [-rho[1] / 2] * 3])


def test_sequence_policy_loss_without_old_logprobs_has_ratio_one():
    logp = torch.randn(2, 3)
    per_token, ratio = sequence_policy_loss(logp, None, torch.tensor([2.0, -1.0]), torch.ones(2, 3))
    assert torch.equal(ratio, torch.ones(2, 3))
    close(per_token, [[-2.0] * 3, [1.0] * 3])


LOSS = torch.tensor([[1.0, 3.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
LOSS_MASK = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("token-mean", 1.3333333),
        ("seq-mean-token-mean", 1.5),
        ("seq-mean-token-sum", 4.0),
        ("seq-mean-token-sum-norm", 1.0),
        ("dr-grpo", 0.5),
    ],
)
def test_aggregation_modes_match_the_reference_vectors(mode, expected):
    close(aggregate(LOSS, LOSS_MASK, mode, max_length=8), expected)


def test_max_length_defaults_to_the_padded_width():
    assert aggregate(LOSS, LOSS_MASK, "dr-grpo").item() == 8.0 / (2 * 4)
    assert aggregate(LOSS, LOSS_MASK, "seq-mean-token-sum-norm").item() == 8.0 / 4


def test_an_unknown_aggregation_names_the_accepted_modes():
    with pytest.raises(ValueError, match="token-mean.*dr-grpo"):
        aggregate(LOSS, LOSS_MASK, "sum")


def test_an_empty_mask_aggregates_to_zero():
    empty = torch.zeros_like(LOSS_MASK)
    for mode in AGGREGATIONS:
        assert aggregate(LOSS, empty, mode).item() == 0.0


@pytest.mark.parametrize("mode", AGGREGATIONS)
def test_micro_batches_with_global_normalisers_sum_to_the_full_batch(mode):
    generator = torch.Generator().manual_seed(4)
    per_token = torch.randn(6, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    mask = torch.arange(5) < torch.tensor([[5], [1], [3], [0], [2], [4]])
    full = aggregate(per_token, mask, mode, max_length=8)
    (full_grad,) = torch.autograd.grad(full, per_token)
    normalisers = {"num_tokens": float(mask.sum()), "num_sequences": 6.0, "max_length": 8}
    parts = sum(
        aggregate(per_token[rows], mask[rows], mode, **normalisers)
        for rows in (slice(0, 2), slice(2, 3), slice(3, 6))
    )
    assert isinstance(parts, torch.Tensor)
    (parts_grad,) = torch.autograd.grad(parts, per_token)
    close(parts, full.detach(), atol=1e-12)
    close(parts_grad, full_grad, atol=1e-12)


def test_global_normalisers_may_be_tensors():
    num_tokens = LOSS_MASK.sum()
    close(aggregate(LOSS, LOSS_MASK, "token-mean", num_tokens=num_tokens), 8.0 / 6)


P, REF = torch.tensor([0.5]).log(), torch.tensor([0.25]).log()


@pytest.mark.parametrize(
    ("kind", "forward", "swapped"),
    [("k1", 0.693147, -0.693147), ("k2", 0.240227, 0.240227), ("k3", 0.193147, 0.306853)],
)
def test_kl_estimators_match_the_reference_vectors(kind, forward, swapped):
    close(kl_estimate(P, REF, kind), [forward])
    close(kl_estimate(REF, P, kind), [swapped])


def test_kl_clamp_bounds_the_estimate_with_a_finite_gradient():
    logp = torch.tensor([-100.0, 0.0, 100.0], requires_grad=True)
    kl = kl_estimate(logp, torch.zeros(3), "k3", clamp=10.0)
    assert kl.tolist() == [10.0, 0.0, 10.0]
    kl.sum().backward()
    assert logp.grad is not None and torch.isfinite(logp.grad).all()
    close(kl_estimate(logp, torch.zeros(3), "k1", clamp=10.0), [-10.0, 0.0, 10.0])


def test_unknown_kl_kind_is_rejected():
    with pytest.raises(ValueError, match="k1"):
        kl_estimate(P, REF, "k4")  # type: ignore[arg-type]


def expected_gradient(kind: str, logits: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """grad of E_{x ~ pi}[k(x)] with the expectation taken exactly and pi held fixed (a sampled-token loss)."""
    logp = torch.log_softmax(logits, -1)
    loss = (logp.exp().detach() * kl_estimate(logp, ref_logp, kind)).sum()  # type: ignore[arg-type]
    (grad,) = torch.autograd.grad(loss, logits)
    return grad


def kl_gradient(p_logits: torch.Tensor, q_logp: torch.Tensor, reverse: bool) -> torch.Tensor:
    logp = torch.log_softmax(p_logits, -1)
    kl = (logp.exp() * (logp - q_logp)).sum() if reverse else (q_logp.exp() * (q_logp - logp)).sum()
    (grad,) = torch.autograd.grad(kl, p_logits)
    return grad


LOGITS = torch.tensor([0.3, -1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
REF_LOGP = torch.log_softmax(torch.tensor([1.0, 0.0, -0.5, 0.2], dtype=torch.float64), -1)


def test_k1_in_the_loss_has_zero_expected_gradient():
    close(expected_gradient("k1", LOGITS, REF_LOGP), torch.zeros(4), atol=1e-12)


def test_k2_in_the_loss_has_the_reverse_kl_gradient_on_policy():
    close(expected_gradient("k2", LOGITS, REF_LOGP), kl_gradient(LOGITS, REF_LOGP, reverse=True), atol=1e-12)


def test_k3_in_the_loss_follows_the_forward_kl_gradient_not_the_reverse():
    k3 = expected_gradient("k3", LOGITS, REF_LOGP)
    close(k3, kl_gradient(LOGITS, REF_LOGP, reverse=False), atol=1e-12)
    assert not torch.allclose(k3, kl_gradient(LOGITS, REF_LOGP, reverse=True))


def test_fixed_kl_controller_never_moves():
    controller = FixedKLController(0.05)
    controller.update(current_kl=10.0, n_steps=100)
    assert controller.value == 0.05
    assert controller.state_dict() == {"value": 0.05}


def test_adaptive_kl_controller_moves_by_the_clipped_proportional_error():
    controller = AdaptiveKLController(0.1, target=0.1, horizon=10)
    controller.update(current_kl=0.11, n_steps=1)
    assert controller.value == pytest.approx(0.1 * (1 + 0.1 / 10))
    controller = AdaptiveKLController(0.1, target=0.1, horizon=10)
    controller.update(current_kl=5.0, n_steps=2)
    assert controller.value == pytest.approx(0.1 * (1 + 0.2 * 2 / 10))
    controller.update(current_kl=0.0, n_steps=1)
    assert controller.value == pytest.approx(0.1 * 1.04 * 0.98)


def test_kl_controllers_resume_from_their_state_dict():
    controller = AdaptiveKLController(0.1, target=0.1, horizon=10)
    controller.update(current_kl=1.0, n_steps=3)
    resumed = AdaptiveKLController(0.1, target=0.1, horizon=10)
    resumed.load_state_dict(controller.state_dict())
    assert resumed.value == controller.value
    fixed = FixedKLController(0.0)
    fixed.load_state_dict({"value": 0.2})
    assert fixed.value == 0.2


def test_make_kl_controller_is_adaptive_only_with_a_target():
    assert isinstance(make_kl_controller(0.01, None, 10000), FixedKLController)
    adaptive = make_kl_controller(0.01, 0.1, 10000)
    assert isinstance(adaptive, AdaptiveKLController) and adaptive.value == 0.01
    with pytest.raises(ValueError, match="target"):
        make_kl_controller(0.01, 0.0, 10000)


def test_value_loss_without_clip_is_half_squared_error():
    loss, clipped = value_loss(
        torch.tensor([1.0, 0.0]), torch.zeros(2), torch.tensor([0.0, 2.0]), clip_eps=None
    )
    assert loss.tolist() == [0.5, 2.0]
    assert clipped.tolist() == [0.0, 0.0]


def test_value_loss_takes_the_pessimistic_clipped_term_with_zero_gradient_there():
    values = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([0.5, 0.5], dtype=torch.float64)
    returns = torch.tensor([0.0, 1.0], dtype=torch.float64)
    loss, clipped = value_loss(values, old, returns, clip_eps=0.2)
    close(loss, [0.5, 0.045])
    assert clipped.tolist() == [0.0, 1.0]
    loss.sum().backward()
    assert values.grad is not None
    close(values.grad, [1.0, 0.0])


def test_entropy_matches_categorical_and_is_log_v_for_uniform_logits():
    logits = torch.randn(2, 3, 7, generator=torch.Generator().manual_seed(5))
    close(entropy_from_logits(logits), torch.distributions.Categorical(logits=logits).entropy())
    close(entropy_from_logits(torch.zeros(5, 8)), torch.full((5,), math.log(8)))


def test_entropy_is_finite_for_large_and_filtered_logits():
    logits = torch.tensor([[1e4, 1e4 - 1.0, -1e4], [0.0, 0.0, -math.inf]], requires_grad=True)
    entropy = entropy_from_logits(logits)
    p = torch.softmax(torch.tensor([0.0, -1.0]), -1)
    close(entropy, [float(-(p * p.log()).sum()), math.log(2)])
    entropy.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
