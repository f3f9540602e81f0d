"""Non-diffusion imputers: mean, last observation carried forward, linear interpolation, and a PSW-style OT imputer.

Every imputer takes windows (B, L, K) and the conditioning mask (True where a value may be
read) and returns a completed copy. Conditioning entries are left unchanged.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from components.imputation.spt import semi_relaxed_sinkhorn

logger = logging.getLogger(__name__)


def mean_impute(windows: np.ndarray, cond_mask: np.ndarray, feature_means: np.ndarray | None = None) -> np.ndarray:
    """Fill each missing entry with its feature's mean over the window's observed steps (training mean if none)."""
    values = np.where(cond_mask, windows, 0.0)
    counts = cond_mask.sum(1, keepdims=True)
    fallback = np.zeros(windows.shape[-1]) if feature_means is None else feature_means
    means = np.where(counts > 0, values.sum(1, keepdims=True) / np.maximum(counts, 1), fallback[None, None, :])
    return np.where(cond_mask, windows, np.broadcast_to(means, windows.shape))


def locf_impute(windows: np.ndarray, cond_mask: np.ndarray) -> np.ndarray:
    """Carry the last observation forward; leading gaps take the first observation (backward fill)."""
    out = np.where(cond_mask, windows, np.nan)
    length = windows.shape[1]
    index = np.where(cond_mask, np.arange(length)[None, :, None], -1)
    last = np.maximum.accumulate(index, axis=1)
    first = np.where(cond_mask, np.arange(length)[None, :, None], length)
    next_ = np.minimum.accumulate(first[:, ::-1], axis=1)[:, ::-1]
    source = np.where(last >= 0, last, np.minimum(next_, length - 1))
    filled = np.take_along_axis(np.nan_to_num(out), source, axis=1)
    empty = ~cond_mask.any(1, keepdims=True)
    return np.where(cond_mask, windows, np.where(empty, 0.0, filled))


def linear_impute(windows: np.ndarray, cond_mask: np.ndarray) -> np.ndarray:
    """Interpolate linearly between observations in time; ends are held at the nearest observation."""
    out = np.where(cond_mask, windows, 0.0).astype(np.float64)
    steps = np.arange(windows.shape[1])
    for b in range(windows.shape[0]):
        for k in range(windows.shape[2]):
            seen = cond_mask[b, :, k]
            if seen.any() and not seen.all():
                out[b, ~seen, k] = np.interp(steps[~seen], steps[seen], windows[b, seen, k])
    return out


def psw_impute(
    windows: np.ndarray, cond_mask: np.ndarray, epochs: int = 200, batch_size: int = 64, lr: float = 0.01,
    reg: float = 0.05, reg_m: float = 1.0, n_iter: int = 50, seed: int = 0,
) -> tuple[np.ndarray, list[float]]:
    """Impute by minimising unbalanced OT between random batches of windows in the frequency domain.

    After Wang et al., "Optimal Transport for Time Series Imputation" (ICLR 2025, the Proximal
    Spectrum Wasserstein method): missing entries are free parameters, initialised by
    linear interpolation; each step draws two batches, computes the squared distance between
    the windows' Fourier spectra (rfft over time, real and imaginary parts), solves an
    entropic unbalanced OT problem (KL on both marginals, strength reg_m) with the plan
    detached, and takes an Adam step on <C, P>. Returns the completed windows and the loss curve.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    start = linear_impute(windows, cond_mask)
    observed = torch.tensor(cond_mask, dtype=torch.bool)
    base = torch.tensor(np.where(cond_mask, windows, 0.0), dtype=torch.float32)
    free = torch.tensor(np.where(cond_mask, 0.0, start), dtype=torch.float32, requires_grad=True)
    optimizer = torch.optim.Adam([free], lr=lr)
    n = len(windows)
    size = min(batch_size, max(n // 2, 1))
    losses: list[float] = []
    if n < 2:
        return start, losses

    for _ in range(epochs):
        first, second = rng.choice(n, size, replace=False), rng.choice(n, size, replace=False)
        full = torch.where(observed, base, free)
        spectra = torch.fft.rfft(full, dim=1)  # (B, F, K)
        left = torch.view_as_real(spectra[first]).reshape(size, -1)
        right = torch.view_as_real(spectra[second]).reshape(size, -1)
        cost = torch.cdist(left, right) ** 2
        cost = cost / cost.detach().max().clamp_min(1e-8)
        weights = torch.full((1, size), 1.0 / size)
        plan = semi_relaxed_sinkhorn(weights, weights, cost.detach()[None], reg, float("inf"), n_iter) if reg_m == float("inf") \
            else _unbalanced_plan(weights, cost.detach(), reg, reg_m, n_iter)
        loss = (plan[0] * cost).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))

    completed = free.detach().numpy().astype(np.float64)
    return np.where(cond_mask, windows, completed), losses


def _unbalanced_plan(weights: torch.Tensor, cost: torch.Tensor, reg: float, reg_m: float, n_iter: int) -> torch.Tensor:
    """Fully unbalanced entropic OT (KL on both marginals), log domain, same derivation as SPT with phi on both sides."""
    log_w = torch.log(weights[0])
    phi = reg_m / (reg_m + reg)
    f = torch.zeros_like(log_w)
    g = torch.zeros_like(log_w)
    for _ in range(n_iter):
        f = -phi * reg * torch.logsumexp(log_w[None, :] + (g[None, :] - cost) / reg, dim=1)
        g = -phi * reg * torch.logsumexp(log_w[:, None] + (f[:, None] - cost) / reg, dim=0)
    return torch.exp(log_w[:, None] + log_w[None, :] + (f[:, None] + g[None, :] - cost) / reg)[None]
