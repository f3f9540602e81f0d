"""The diffusion imputer: training with and without SPT, both samplers, conditioning and the proximal step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.imputation.data import simulate_missing
from components.imputation.diffusion import DiffusionSettings, SPTSettings, proximal_step, sample_diffusion, train_diffusion
from components.imputation.model import Denoiser, DenoiserConfig, Schedule


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run torch on one thread: on shared cores two threads make these tiny models many times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_settings(spt: SPTSettings | None) -> DiffusionSettings:
    return DiffusionSettings(n_steps=4, epochs=2, batch_size=8, n_samples=2, spt=spt,
                             denoiser=DenoiserConfig(channels=8, layers=1, heads=2, n_features=3))


@pytest.fixture(scope="module")
def windows():
    rng = np.random.default_rng(0)
    t = np.arange(12)
    values = np.sin(2 * np.pi * t / 6)[None, :, None] + 0.1 * rng.normal(size=(16, 12, 3))
    values[0, 0, 0] = np.nan  # raw-missing entry
    return values


def test_denoiser_output_shape():
    model = Denoiser(DenoiserConfig(channels=8, layers=2, heads=2, n_features=3), n_steps=4)
    cond = torch.randn(5, 3, 12)
    out = model(cond, torch.randn(5, 3, 12), torch.ones(5, 3, 12), torch.zeros(5, dtype=torch.long))
    assert out.shape == (5, 3, 12)


def test_schedule_is_monotone():
    schedule = Schedule.quadratic(50)
    assert schedule.betas[0] == pytest.approx(1e-4)
    assert schedule.betas[-1] == pytest.approx(0.5)
    assert torch.all(schedule.alpha_bars[1:] < schedule.alpha_bars[:-1])


@pytest.mark.parametrize("spt", [None, SPTSettings(n_iter=5)], ids=["diffusion", "spirit"])
def test_train_and_sample_keep_conditioning(windows, spt):
    settings = tiny_settings(spt)
    model, history = train_diffusion(windows, np.isfinite(windows), settings)
    assert len(history) == 2
    assert all(np.isfinite(record["loss"]) for record in history)
    assert (history[-1]["spt_loss"] > 0) == (spt is not None)

    eval_mask = simulate_missing(np.isfinite(windows), 0.3, "point", seed=0)
    cond_mask = np.isfinite(windows) & ~eval_mask
    inputs = np.where(cond_mask, windows, 0.0)
    samples = sample_diffusion(model, inputs, cond_mask, settings, proximal=spt is not None)
    assert samples.shape == (2, *windows.shape)
    assert np.isfinite(samples).all()
    assert np.allclose(samples[:, cond_mask], inputs[cond_mask], atol=1e-6)


def test_proximal_step_moves_missing_entries_only():
    cond = torch.zeros(2, 1, 10)
    mask = torch.ones(2, 1, 10)
    mask[:, :, 4:6] = 0
    x0_hat = torch.zeros(2, 1, 10)
    x0_hat[:, :, 4:6] = 3.0  # far from every observed value
    refined = proximal_step(x0_hat, cond, mask, SPTSettings(prox_steps=3, prox_gamma=5.0, prox_lr=0.5))
    assert torch.equal(refined[mask > 0], x0_hat[mask > 0])
    assert torch.all(refined[:, :, 4:6] < 3.0)  # pulled toward the observed level
