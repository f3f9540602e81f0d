"""E-SUOT components: divergence conjugates, the semi-dual objective, and the learned map against POT's exact plan."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from components.adaptation.divergences import DIVERGENCES, psi, psi_star, psi_star_grad, scaled_psi_star
from components.adaptation.domains import barycentric_map, esuot_domains, goat_domains, interpolation_times
from components.adaptation.esuot import (
    ESUOTSettings,
    entropic_c_transform,
    fit_esuot,
    semi_dual_objective,
    squared_cost,
)
from components.errors import InputError


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def two_gaussians(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    source = rng.normal(size=(n, 2))
    target = rng.normal(size=(n, 2)) @ np.array([[1.5, 0.3], [0.3, 0.6]]) + np.array([4.0, 1.0])
    return source.astype(np.float32), target.astype(np.float32)


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_psi_star_is_conjugate_of_psi(divergence):
    # psi*(s) = sup_t [s t - psi(t)], by brute force over the domain of psi.
    upper = 2.0 if divergence == "softplus" else 60.0
    t = torch.linspace(0.0, upper, 400_001, dtype=torch.float64)
    for s in (-3.0, -1.0, -0.2, 0.0, 0.5, 1.5):
        brute = torch.max(s * t - psi(t, divergence)).item()
        assert psi_star(torch.tensor(s, dtype=torch.float64), divergence).item() == pytest.approx(brute, abs=1e-4)


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_psi_star_grad_matches_autograd(divergence):
    s = torch.tensor([-2.5, -1.0, 0.0, 0.7, 2.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(psi_star(s, divergence).sum(), s)
    assert torch.allclose(psi_star_grad(s.detach(), divergence), grad)
    assert psi_star(torch.zeros(1), divergence).item() == pytest.approx(0.0, abs=1e-7)
    assert psi_star_grad(torch.zeros(1), divergence).item() == pytest.approx(1.0)


def test_scaled_psi_star_approaches_identity_for_large_tau():
    s = torch.linspace(-1, 1, 5)
    assert torch.allclose(scaled_psi_star(s, "kl", 1e4), s, atol=1e-3)


def test_entropic_c_transform_matches_numpy():
    rng = np.random.default_rng(0)
    x, y, v = rng.normal(size=(5, 3)), rng.normal(size=(7, 3)), rng.normal(size=7)
    eps, scale = 0.3, 2.0
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1) / scale
    expected = -eps * np.log(np.mean(np.exp((v[None, :] - cost) / eps), axis=1))
    got = entropic_c_transform(torch.tensor(v), squared_cost(torch.tensor(x), torch.tensor(y), scale), eps)
    assert np.allclose(got.numpy(), expected)
    # As epsilon -> 0 the entropic c-transform becomes min_j c(x, y_j) - v(y_j).
    hard = entropic_c_transform(torch.tensor(v), torch.tensor(cost), 1e-4).numpy()
    assert np.allclose(hard, (cost - v[None, :]).min(1), atol=1e-3)


def test_balanced_objective_equals_entropic_semi_dual():
    # For large tau, J(v) tends to -(mean v^{c,eps} + mean v), the balanced entropic semi-dual.
    rng = np.random.default_rng(1)
    v = torch.tensor(rng.normal(size=6) * 0.1)
    cost = torch.tensor(rng.uniform(size=(4, 6)))
    settings = ESUOTSettings(divergence="kl", tau=1e5, epsilon=0.2)
    balanced = -(entropic_c_transform(v, cost, 0.2).mean() + v.mean())
    assert semi_dual_objective(v, cost, settings).item() == pytest.approx(balanced.item(), abs=1e-4)


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_objective_decreases(divergence):
    source, target = two_gaussians(150, seed=3)
    model = fit_esuot(source, target, ESUOTSettings(divergence=divergence, iterations=120, hidden=32,
                                                    eval_every=20, lr_potential=3e-3, seed=0))
    objectives = [h["objective"] for h in model.history]
    assert model.diverged_at is None
    assert all(math.isfinite(o) for o in objectives)
    assert objectives[-1] < objectives[0] - 0.05
    # Averages over the first and second half fall too, so the decrease is not one lucky batch.
    half = len(objectives) // 2
    assert np.mean(objectives[half:]) < np.mean(objectives[:half])


@pytest.mark.slow
def test_map_matches_discrete_ot_plan_between_gaussians():
    # Near-balanced (large tau) and nearly unregularised (small epsilon) E-SUOT approximates the
    # Monge map, which the barycentric projection of POT's exact plan estimates independently.
    source, target = two_gaussians(200, seed=0)
    reference = barycentric_map(source, target)
    displacement = ((reference - source) ** 2).sum(1).mean()
    errors = []
    for seed in (0, 1):
        model = fit_esuot(source, target, ESUOTSettings(divergence="kl", tau=50.0, epsilon=0.01, iterations=400,
                                                        hidden=64, batch_size=200, target_batch=200,
                                                        lr_potential=5e-3, lr_map=5e-3, seed=seed))
        mapped = model.transport(source)
        errors.append(((mapped - reference) ** 2).sum(1).mean() / displacement)
        # The pushed-forward source has roughly the target's mean.
        assert np.allclose(mapped.mean(0), target.mean(0), atol=0.3)
    # Stable across seeds: every run lands within 3% of the mean squared displacement.
    assert max(errors) < 0.03, errors


def test_generated_domains_lie_on_segments():
    source, target = two_gaussians(60, seed=2)
    model = fit_esuot(source, target, ESUOTSettings(iterations=5, hidden=8))
    domains = esuot_domains(model, source, 3)
    image = model.transport(source)
    assert domains.times == [0.25, 0.5, 0.75]
    assert np.allclose(domains.features[1], 0.5 * source + 0.5 * image, atol=1e-5)
    assert domains.weights[0].mean() == pytest.approx(1.0)

    goat = goat_domains(source, target, 1)
    assert goat.times == [0.5]
    # Equal sizes and uniform weights: the exact plan is a permutation, one pair per source point.
    assert len(goat.features[0]) == len(source)
    assert np.allclose(goat.features[0].mean(0), 0.5 * (source.mean(0) + target.mean(0)), atol=1e-4)


def test_mismatched_feature_dimensions_rejected():
    source, target = two_gaussians(20, seed=0)
    wider = np.hstack([target, target[:, :1]])
    with pytest.raises(InputError, match=r"source has 2 features but target has 3"):
        fit_esuot(source, wider, ESUOTSettings(iterations=1))
    with pytest.raises(InputError, match=r"source has 2 features but target has 3"):
        goat_domains(source, wider, 2)


def test_nan_features_rejected():
    source, target = two_gaussians(20, seed=0)
    source[3, 1] = np.nan
    with pytest.raises(InputError, match=r"source features contain NaN"):
        fit_esuot(source, target, ESUOTSettings(iterations=1))


@pytest.mark.parametrize("k", [0, -2])
def test_k_below_one_rejected(k):
    with pytest.raises(InputError, match=r"intermediate domains K is -?\d+; it must be an integer of at least 1"):
        interpolation_times(k)


def test_settings_check_names_value():
    with pytest.raises(ValueError, match=r"epsilon is -1.0"):
        ESUOTSettings(epsilon=-1.0).check()
    with pytest.raises(ValueError, match=r"divergence is 'tv'"):
        ESUOTSettings(divergence="tv").check()  # type: ignore[arg-type]
