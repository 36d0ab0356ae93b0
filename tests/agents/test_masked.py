import math

import torch

from rlvr.agents.masked import masked_mean, masked_sum, masked_var, masked_whiten

X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
MASK = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)


def test_masked_sum_and_mean_count_only_valid_elements():
    assert masked_sum(X, MASK).item() == 7.0
    assert torch.equal(masked_sum(X, MASK, dim=-1), torch.tensor([3.0, 4.0]))
    assert abs(masked_mean(X, MASK).item() - 7.0 / 3) < 1e-6
    assert torch.equal(masked_mean(X, MASK, dim=-1), torch.tensor([1.5, 4.0]))


def test_float_and_bool_masks_agree():
    assert torch.equal(masked_mean(X, MASK.float(), dim=-1), masked_mean(X, MASK, dim=-1))


def test_masked_mean_of_an_empty_mask_is_zero_not_nan():
    empty = torch.zeros_like(MASK)
    assert masked_mean(X, empty).item() == 0.0
    assert torch.equal(masked_mean(X, torch.tensor([[1, 0, 0], [0, 0, 0]]), dim=-1), torch.tensor([1.0, 0.0]))


def test_nan_on_masked_positions_does_not_leak():
    x = torch.tensor([[1.0, math.nan], [math.inf, 3.0]])
    mask = torch.tensor([[1, 0], [0, 1]])
    assert masked_sum(x, mask).item() == 4.0
    assert masked_var(x, mask).item() == 2.0
    assert torch.isfinite(masked_whiten(x, mask)).all()


def test_masked_var_unbiased_and_biased():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0])
    mask = torch.tensor([1, 1, 1, 1, 0])
    assert masked_var(x, mask).item() == torch.tensor([1.0, 2.0, 3.0, 4.0]).var().item()
    assert masked_var(x, mask, unbiased=False).item() == 1.25


def test_masked_var_of_too_few_elements_is_zero():
    x = torch.tensor([5.0, 7.0])
    assert masked_var(x, torch.tensor([1, 0])).item() == 0.0
    assert masked_var(x, torch.tensor([1, 0]), unbiased=False).item() == 0.0
    assert masked_var(x, torch.tensor([0, 0]), unbiased=False).item() == 0.0


def test_masked_whiten_gives_zero_mean_unit_variance_and_zero_off_mask():
    x = torch.tensor([[1.0, 2.0, 9.0], [3.0, 4.0, 9.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    white = masked_whiten(x, mask)
    assert abs(masked_mean(white, mask).item()) < 1e-7
    assert abs(masked_var(white, mask).item() - 1.0) < 1e-6
    assert torch.equal(white[:, 2], torch.zeros(2))


def test_masked_whiten_without_shift_keeps_the_mean():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    mask = torch.ones(4)
    white = masked_whiten(x, mask, shift_mean=False)
    assert abs(white.mean().item() - 2.5) < 1e-6


def test_masked_whiten_of_a_single_element_is_zero():
    assert masked_whiten(torch.tensor([3.0, 1.0]), torch.tensor([1, 0])).tolist() == [0.0, 0.0]
