"""Semi-proximal transport: agreement with POT, the two limits of lambda, gradients and degenerate inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from components.errors import InputError
from components.imputation.spt import semi_relaxed_sinkhorn, spt_loss, spt_value, sqeuclidean_cost


def exact_ot(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    """Balanced OT by linear programming, independent of any Sinkhorn code."""
    n, m = cost.shape
    rows = np.kron(np.eye(n), np.ones(m))
    cols = np.kron(np.ones(n), np.eye(m))
    result = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    return float(result.fun)


@pytest.fixture()
def problem():
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(3, 5, generator=generator, dtype=torch.float64) + 0.1
    b = torch.rand(3, 6, generator=generator, dtype=torch.float64) + 0.1
    cost = torch.rand(3, 5, 6, generator=generator, dtype=torch.float64)
    return a / a.sum(-1, keepdim=True), b / b.sum(-1, keepdim=True), cost


@pytest.mark.parametrize("reg_m", [0.1, 1.0, 10.0])
def test_plan_matches_pot(problem, reg_m):
    ot = pytest.importorskip("ot")
    a, b, cost = problem
    plan = semi_relaxed_sinkhorn(a, b, cost, 0.05, reg_m, n_iter=3000, tol=1e-13)
    for i in range(len(a)):
        reference = ot.unbalanced.sinkhorn_unbalanced(a[i], b[i], cost[i], 0.05, (math.inf, reg_m), numItermax=3000, stopThr=1e-13)
        assert torch.allclose(plan[i], reference, atol=1e-6)


def test_source_marginal_is_exact(problem):
    a, b, cost = problem
    plan = semi_relaxed_sinkhorn(a, b, cost, 0.05, 0.3, n_iter=500)
    assert torch.allclose(plan.sum(-1), a, atol=1e-8)
    assert not torch.allclose(plan.sum(-2), b, atol=1e-3)


def test_large_lambda_recovers_balanced_ot():
    # Two source points at 0 and 1, three target points at 0, 1 and 3: balanced OT must ship 1/3 to 3.
    x = torch.tensor([[[0.0], [1.0]]], dtype=torch.float64)
    y = torch.tensor([[[0.0], [1.0], [3.0]]], dtype=torch.float64)
    cost = sqeuclidean_cost(x, y)
    a = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    b = torch.full((1, 3), 1 / 3, dtype=torch.float64)
    exact = exact_ot(a[0].numpy(), b[0].numpy(), cost[0].numpy())

    plan = semi_relaxed_sinkhorn(a, b, cost, reg=0.02, reg_m=1e4, n_iter=4000, tol=1e-10)
    assert float((plan * cost).sum()) == pytest.approx(exact, rel=2e-2)
    assert torch.allclose(plan.sum(-2), b, atol=1e-3)


def test_small_lambda_ignores_unmatched_mass():
    x = torch.tensor([[[0.0], [1.0]]], dtype=torch.float64)
    y = torch.tensor([[[0.0], [1.0], [10.0]]], dtype=torch.float64)  # the point at 10 has no partner
    cost = sqeuclidean_cost(x, y)
    a = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    b = torch.full((1, 3), 1 / 3, dtype=torch.float64)

    plan = semi_relaxed_sinkhorn(a, b, cost, reg=0.01, reg_m=1e-3, n_iter=5000)
    assert float(plan[0, :, 2].sum()) < 1e-6
    assert float((plan * cost).sum()) < 1e-3
    balanced = exact_ot(a[0].numpy(), b[0].numpy(), cost[0].numpy())
    assert balanced > 20.0


def test_value_increases_with_lambda(problem):
    a, b, cost = problem
    values = [spt_value(a, b, cost, 0.05, reg_m) for reg_m in (0.01, 0.1, 1.0, 10.0)]
    for smaller, larger in zip(values, values[1:]):
        assert torch.all(smaller <= larger + 1e-9)


def test_gradient_matches_finite_differences():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 5, 2, generator=generator, dtype=torch.float64)
    a, b = torch.ones(2, 4, dtype=torch.float64), torch.ones(2, 5, dtype=torch.float64)

    def objective(points):
        cost = sqeuclidean_cost(points, y)
        return spt_value(a, b, cost, 0.1, 1.0, n_iter=3000).sum()

    loss = spt_loss(x, y, a, b, reg=0.1, reg_m=1.0, n_iter=3000, normalise=False).sum()
    (gradient,) = torch.autograd.grad(loss, x)
    step = 1e-5
    direction = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    numeric = (objective(x.detach() + step * direction) - objective(x.detach() - step * direction)) / (2 * step)
    assert float((gradient * direction).sum()) == pytest.approx(float(numeric), rel=1e-3)


@pytest.mark.parametrize("case", ["identical", "single_point", "empty_source", "empty_target", "huge_scale"])
def test_degenerate_inputs_keep_gradients_finite(case):
    x = torch.zeros(2, 3, 2, requires_grad=True) if case == "identical" else torch.randn(2, 3, 2, requires_grad=True)
    y = torch.zeros(2, 4, 2)
    a, b = torch.ones(2, 3), torch.ones(2, 4)
    if case == "single_point":
        a[:, 1:] = 0
        b[:, 1:] = 0
    if case == "empty_source":
        a[0] = 0
    if case == "empty_target":
        b[1] = 0
    if case == "huge_scale":
        x = (1e6 * torch.randn(2, 3, 2)).requires_grad_(True)
    loss = spt_loss(x, y, a, b, reg=0.01, reg_m=0.5, n_iter=50)
    (gradient,) = torch.autograd.grad(loss.sum(), x)
    assert torch.isfinite(loss).all()
    assert torch.isfinite(gradient).all()
    if case in ("empty_source", "empty_target"):
        assert float(loss.detach()[0 if case == "empty_source" else 1]) == 0.0


def test_nan_input_raises():
    cost = torch.rand(1, 2, 2)
    cost[0, 0, 0] = math.nan
    with pytest.raises(InputError, match="NaN"):
        semi_relaxed_sinkhorn(torch.ones(1, 2), torch.ones(1, 2), cost, 0.1, 1.0)


def test_nonpositive_reg_raises():
    with pytest.raises(InputError, match="positive"):
        semi_relaxed_sinkhorn(torch.ones(1, 2), torch.ones(1, 2), torch.rand(1, 2, 2), 0.0, 1.0)
