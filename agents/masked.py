"""Masked reductions over valid tokens."""

from __future__ import annotations

import torch
from torch import Tensor


def masked_sum(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """sum(x * M), over all elements or along ``dim``.

    ``mask`` is 0/1 (bool or float) and broadcasts against ``x``. Masked elements are dropped, not multiplied
    by 0, so a NaN or inf there (padding, an unscorable row) cannot leak into the sum.
    """
    kept = torch.where(mask.bool(), x, torch.zeros_like(x))
    return kept.sum() if dim is None else kept.sum(dim)


def masked_count(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """sum(M) with ``mask`` broadcast to the shape of ``x``, in the dtype of ``x``."""
    return masked_sum(torch.ones_like(x), mask, dim)


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """sum(x * M) / sum(M); 0 (never NaN) where the mask is empty."""
    return masked_sum(x, mask, dim) / masked_count(x, mask, dim).clamp(min=1)


def masked_var(x: Tensor, mask: Tensor, unbiased: bool = True) -> Tensor:
    """Variance of the valid elements of ``x``, all dimensions pooled.

    sum(M * (x - mean)^2) / (n - 1) when ``unbiased`` (verl ``masked_var``), / n otherwise (OpenRLHF).
    0 when too few elements are valid for a variance (n < 2 unbiased, n < 1 biased).
    """
    dof = masked_count(x, mask) - (1 if unbiased else 0)
    squares = masked_sum((x - masked_mean(x, mask)).square(), mask)
    return torch.where(dof > 0, squares / dof.clamp(min=1), torch.zeros_like(squares))


def masked_whiten(
    x: Tensor, mask: Tensor, unbiased: bool = True, shift_mean: bool = True, eps: float = 1e-8
) -> Tensor:
    """(x - mean) / sqrt(var + eps), mean and var over the valid elements; 0 on masked ones.

    ``shift_mean=False`` adds the mean back (scale only). ALGORITHMS.md §2.6-2.7: verl ``masked_whiten``
    (unbiased, CA L425, L583), OpenRLHF REINFORCE++ (biased, EM L264-331).
    """
    mean = masked_mean(x, mask)
    whitened = (x - mean) * torch.rsqrt(masked_var(x, mask, unbiased=unbiased) + eps)
    if not shift_mean:
        whitened = whitened + mean
    return torch.where(mask.bool(), whitened, torch.zeros_like(whitened))
