"""Tail statistics of gradient entries: excess kurtosis and the Hill tail-index estimate."""

from __future__ import annotations

import math

import torch


def excess_kurtosis(values: torch.Tensor) -> float:
    """Return the sample excess kurtosis m4 / m2^2 - 3 (biased moments; 0 for a Gaussian, 3 for a Laplace)."""
    x = values.detach().flatten().to(torch.float64)
    centred = x - x.mean()
    m2 = centred.pow(2).mean()
    if m2 <= 0:
        return math.nan
    return float(centred.pow(4).mean() / m2**2 - 3.0)


def hill_tail_index(values: torch.Tensor, tail_fraction: float = 0.01, min_tail: int = 10) -> float:
    """Return the Hill estimate of the tail index alpha of |values|.

    With |x| sorted in decreasing order X_(1) >= X_(2) >= ... and k tail samples,
    alpha = k / sum_{i<=k} log(X_(i) / X_(k+1)) (Hill, Ann. Statist. 1975). Smaller
    alpha means heavier tails; a Pareto law with P(|X| > x) ~ x^(-alpha) gives alpha.
    k = max(min_tail, tail_fraction * n). Returns NaN when fewer than k + 1 nonzero entries exist.
    """
    x = values.detach().flatten().abs().to(torch.float64)
    x = x[x > 0]
    k = max(min_tail, int(tail_fraction * x.numel()))
    if x.numel() <= k:
        return math.nan
    top = torch.topk(x, k + 1).values
    logs = torch.log(top[:k] / top[k])
    total = float(logs.sum())
    return k / total if total > 0 else math.nan
