"""Training and sampling of the diffusion imputer, with and without semi-proximal transport (SPIRIT).

Plain diffusion (the CSDI baseline) trains on the noise-prediction loss over self-supervised
targets and samples by DDPM ancestral steps. Its reverse chain is a discretised Wasserstein
gradient flow (JKO proximal recursion x_{k+1} = argmin_x E(x) + W_2^2(x, x_k) / (2 tau))
whose injected noise is the dissipative (entropy) term that trades accuracy for diversity.

SPIRIT, as implemented here (the exact objective of arXiv 2602.01182 was not available, so
this is a derivation from the method's description):

* training adds to the noise loss the SPT discrepancy between the denoised estimate
  x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t) and the true targets,
  weighted by abar_t (the signal share, so near-pure-noise steps do not dominate);
* sampling replaces the W_2 proximal step by an SPT one and drops the dissipative noise:
  deterministic DDIM steps (eta = 0), where at every step the estimate x0_hat is refined by
  a few gradient steps on  F(y) = ||y - x0_hat||^2 / 2 + gamma * SPT(y_missing, x_observed),
  then the DDIM update continues from y.

In both uses an SPT problem is one (window, feature) pair: its points are (value, tau * l / L)
for steps l, source = imputed (or predicted) entries with uniform mass, target = reference
entries. The target side is relaxed, so reference points of another regime (a level shift)
or outliers need not receive mass.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from components.imputation.data import training_mask
from components.imputation.model import Denoiser, DenoiserConfig, Schedule
from components.imputation.spt import spt_loss

logger = logging.getLogger(__name__)

CLAMP = 10.0  # bound on denoised estimates, in standard deviations


@dataclass(frozen=True)
class SPTSettings:
    reg: float = 0.05
    reg_m: float = 0.5
    n_iter: int = 30
    time_scale: float = 1.0
    weight: float = 0.5
    prox_gamma: float = 0.5
    prox_steps: int = 2
    prox_lr: float = 0.5


@dataclass(frozen=True)
class DiffusionSettings:
    n_steps: int = 50
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    n_samples: int = 10
    seed: int = 0
    spt: SPTSettings | None = None
    denoiser: DenoiserConfig = field(default_factory=DenoiserConfig)


def window_clouds(values: torch.Tensor, mask: torch.Tensor, time_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn (B, K, L) values and a mask into B*K clouds of L points (value, time): (B*K, L, 2), weights (B*K, L)."""
    batch, n_features, length = values.shape
    positions = time_scale * torch.arange(length, dtype=values.dtype) / max(length - 1, 1)
    points = torch.stack([values, positions.expand_as(values)], dim=-1).reshape(batch * n_features, length, 2)
    return points, mask.reshape(batch * n_features, length).to(values.dtype)


def spt_between(x: torch.Tensor, x_mask: torch.Tensor, y: torch.Tensor, y_mask: torch.Tensor, spt: SPTSettings) -> torch.Tensor:
    """SPT cost per window, (B,), from entries x_mask of x (source) to entries y_mask of y (target)."""
    source, a = window_clouds(x, x_mask, spt.time_scale)
    target, b = window_clouds(y, y_mask, spt.time_scale)
    per_problem = spt_loss(source, target, a, b, reg=spt.reg, reg_m=spt.reg_m, n_iter=spt.n_iter)
    return per_problem.reshape(x.shape[0], -1).sum(-1)


def train_diffusion(
    windows: np.ndarray, observed: np.ndarray, settings: DiffusionSettings, progress: bool = False
) -> tuple[Denoiser, list[dict[str, float]]]:
    """Train a denoiser on windows (B, L, K) with raw-observed mask; return it and per-epoch history."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = Denoiser(settings.denoiser, settings.n_steps)
    schedule = Schedule.quadratic(settings.n_steps)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=1e-6)
    values = torch.tensor(np.nan_to_num(windows).transpose(0, 2, 1), dtype=torch.float32)  # (B, K, L)
    observed_t = torch.tensor(observed.transpose(0, 2, 1), dtype=torch.float32)

    history = []
    for epoch in tqdm(range(settings.epochs), disable=not progress, desc="train"):
        started = time.perf_counter()
        order = torch.tensor(rng.permutation(len(values)))
        totals = {"loss": 0.0, "noise_loss": 0.0, "spt_loss": 0.0}
        n_batches = 0
        for start in range(0, len(values), settings.batch_size):
            index = order[start : start + settings.batch_size]
            x, obs = values[index], observed_t[index]
            target = torch.tensor(training_mask(obs.numpy() > 0, rng), dtype=torch.float32)
            cond_mask = obs - target

            # Forward noising: x_t = sqrt(abar) x + sqrt(1 - abar) eps.
            t = torch.randint(0, settings.n_steps, (len(x),))
            abar = schedule.alpha_bars[t][:, None, None]
            noise = torch.randn_like(x)
            noisy = abar.sqrt() * x + (1 - abar).sqrt() * noise
            predicted = model(x, noisy, cond_mask, t)
            n_target = target.sum().clamp_min(1.0)
            noise_loss = (((noise - predicted) * target) ** 2).sum() / n_target
            loss = noise_loss

            # SPIRIT: SPT between the denoised estimate and the true targets, weighted by abar.
            spt_term = torch.zeros(())
            if settings.spt is not None and settings.spt.weight > 0:
                x0_hat = (noisy - (1 - abar).sqrt() * predicted) / abar.sqrt()
                per_window = spt_between(x0_hat, target, x, target, settings.spt)
                spt_term = (abar.reshape(-1) * per_window).sum() / len(x)
                loss = loss + settings.spt.weight * spt_term

            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            totals["loss"] += float(loss.detach())
            totals["noise_loss"] += float(noise_loss.detach())
            totals["spt_loss"] += float(spt_term.detach())
            n_batches += 1

        record = {k: v / max(n_batches, 1) for k, v in totals.items()}
        record["epoch_seconds"] = time.perf_counter() - started
        if not math.isfinite(record["loss"]):
            logger.warning("training loss is %s at epoch %d; stopping", record["loss"], epoch + 1)
            history.append(record)
            break
        history.append(record)
    return model, history


@torch.no_grad()
def _predict(model: Denoiser, cond: torch.Tensor, x: torch.Tensor, cond_mask: torch.Tensor, step: int) -> torch.Tensor:
    return model(cond, x, cond_mask, torch.full((len(x),), step, dtype=torch.long))


def sample_diffusion(
    model: Denoiser, windows: np.ndarray, cond_mask: np.ndarray, settings: DiffusionSettings,
    proximal: bool, batch_size: int = 256, progress: bool = False,
) -> np.ndarray:
    """Draw imputations (S, B, L, K); conditioning entries are copied from `windows`.

    proximal=False: DDPM ancestral sampling (the CSDI baseline). proximal=True: SPIRIT's
    deterministic DDIM chain with an SPT proximal step on every denoised estimate.
    """
    model.eval()
    schedule = Schedule.quadratic(settings.n_steps)
    generator = torch.Generator().manual_seed(settings.seed + 1)
    cond_all = torch.tensor(np.nan_to_num(windows).transpose(0, 2, 1), dtype=torch.float32)
    mask_all = torch.tensor(cond_mask.transpose(0, 2, 1), dtype=torch.float32)
    samples = np.empty((settings.n_samples, *windows.shape), dtype=np.float32)

    chunks = range(0, len(cond_all), batch_size)
    for start in tqdm(chunks, disable=not progress, desc="impute"):
        cond, mask = cond_all[start : start + batch_size], mask_all[start : start + batch_size]
        repeats = settings.n_samples
        cond_r, mask_r = cond.repeat(repeats, 1, 1), mask.repeat(repeats, 1, 1)
        x = torch.randn(cond_r.shape, generator=generator)
        for step in reversed(range(settings.n_steps)):
            abar, beta = schedule.alpha_bars[step], schedule.betas[step]
            abar_prev = schedule.alpha_bars[step - 1] if step > 0 else torch.tensor(1.0)
            eps = _predict(model, cond_r, x, mask_r, step)
            if not proximal:
                # DDPM: x_{t-1} = (x_t - beta / sqrt(1 - abar) eps) / sqrt(alpha) + sigma z.
                x = (x - beta / (1 - abar).sqrt() * eps) / schedule.alphas[step].sqrt()
                if step > 0:
                    sigma = ((1 - abar_prev) / (1 - abar) * beta).sqrt()
                    x = x + sigma * torch.randn(x.shape, generator=generator)
                continue

            # SPIRIT: proximal SPT refinement of x0_hat, then the noise-free DDIM update.
            # Standardised data: clamping x0_hat keeps the first steps (abar near 0) bounded.
            x0_hat = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-CLAMP, CLAMP)
            y = proximal_step(x0_hat, cond_r, mask_r, settings.spt or SPTSettings())
            eps = (x - abar.sqrt() * y) / (1 - abar).sqrt()
            x = abar_prev.sqrt() * y + (1 - abar_prev).sqrt() * eps if step > 0 else y
        x = torch.where(mask_r > 0, cond_r, x)
        block = x.reshape(repeats, len(cond), *cond.shape[1:]).permute(0, 1, 3, 2)
        samples[:, start : start + len(cond)] = block.numpy()
    return samples


def proximal_step(x0_hat: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor, spt: SPTSettings) -> torch.Tensor:
    """Refine the missing entries of x0_hat by gradient steps on ||y - x0_hat||^2 / 2 + gamma * SPT(y_missing, observed)."""
    missing = 1 - cond_mask
    y = x0_hat.clone()
    for _ in range(spt.prox_steps):
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            objective = 0.5 * (((y - x0_hat) * missing) ** 2).sum() + spt.prox_gamma * spt_between(y, missing, cond, cond_mask, spt).sum()
            (gradient,) = torch.autograd.grad(objective, y)
        y = (y - spt.prox_lr * gradient * missing).detach()
    return y
