"""Shampoo against a dense float64 reference, its fallbacks, its state_dict and its argument checks."""

from __future__ import annotations

import copy
import io
import re
import warnings

import numpy as np
import pytest
import torch

from components.optim.shampoo import Shampoo, matrix_inverse_root

LR, BETAS, EPS, WD, GRAFT_EPS = 0.05, (0.9, 0.99), 1e-3, 0.1, 1e-8


def inverse_root(matrix: np.ndarray, exponent: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return vectors @ np.diag((np.clip(values, 0, None) + EPS) ** -exponent) @ vectors.T


def reference_trajectory(w0: np.ndarray, grads: list[np.ndarray], left: float | None, right: float | None) -> np.ndarray:
    """Dense float64 Shampoo written from the update equations, with roots recomputed every step."""
    w = w0.copy()
    m, n = w.shape
    M, V = np.zeros_like(w), np.zeros_like(w)
    L, R = np.zeros((m, m)), np.zeros((n, n))
    for t, g in enumerate(grads, start=1):
        M = BETAS[0] * M + (1 - BETAS[0]) * g
        V = BETAS[1] * V + (1 - BETAS[1]) * g * g
        L = BETAS[1] * L + (1 - BETAS[1]) * g @ g.T
        R = BETAS[1] * R + (1 - BETAS[1]) * g.T @ g
        b1, b2 = 1 - BETAS[0] ** t, 1 - BETAS[1] ** t
        D = M / b1
        if left is not None:
            D = inverse_root(L / b2, left) @ D
        if right is not None:
            D = D @ inverse_root(R / b2, right)
        A = (M / b1) / (np.sqrt(V / b2) + GRAFT_EPS)
        D = D * np.linalg.norm(A) / np.linalg.norm(D)
        w = w * (1 - LR * WD) - LR * D
    return w


def run_shampoo(w0: np.ndarray, grads: list[np.ndarray], **options) -> np.ndarray:
    param = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    optimizer = Shampoo([param], lr=LR, betas=BETAS, epsilon=EPS, weight_decay=WD, graft_epsilon=GRAFT_EPS,
                        precondition_frequency=1, **options)
    for g in grads:
        param.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
    return param.detach().numpy()


@pytest.mark.parametrize(
    "preconditioning, shape, left, right",
    [
        ("two_sided", (5, 3), 0.25, 0.25),
        ("one_sided", (3, 6), 0.5, None),  # the smaller side is the left one
        ("one_sided", (6, 3), None, 0.5),
        ("left", (4, 5), 0.5, None),
        ("right", (4, 5), None, 0.5),
    ],
)
def test_direction_matches_dense_reference(preconditioning, shape, left, right):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=shape)
    grads = [rng.normal(size=shape) for _ in range(4)]
    expected = reference_trajectory(w0, grads, left, right)
    got = run_shampoo(w0, grads, preconditioning=preconditioning)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_max_precond_dim_keeps_long_side_identity():
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(3, 8))
    grads = [rng.normal(size=(3, 8)) for _ in range(3)]
    expected = reference_trajectory(w0, grads, 0.25, None)
    got = run_shampoo(w0, grads, preconditioning="two_sided", max_precond_dim=4)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_higher_order_tensor_reshaped_to_matrix():
    rng = np.random.default_rng(2)
    w0 = rng.normal(size=(3, 2, 4))
    grads = [rng.normal(size=(3, 2, 4)) for _ in range(3)]
    expected = reference_trajectory(w0.reshape(3, 8), [g.reshape(3, 8) for g in grads], 0.25, 0.25)
    got = run_shampoo(w0, grads, preconditioning="two_sided")
    np.testing.assert_allclose(got.reshape(3, 8), expected, rtol=1e-9, atol=1e-12)


def test_vector_parameter_follows_adamw():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(7, dtype=torch.float64))
    b = torch.nn.Parameter(a.detach().clone())
    shampoo = Shampoo([a], lr=LR, betas=BETAS, epsilon=EPS, weight_decay=WD, graft_epsilon=GRAFT_EPS)
    adamw = torch.optim.AdamW([b], lr=LR, betas=BETAS, eps=GRAFT_EPS, weight_decay=WD)
    for _ in range(5):
        grad = torch.randn(7, dtype=torch.float64)
        a.grad, b.grad = grad.clone(), grad.clone()
        shampoo.step()
        adamw.step()
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_inverse_root_against_eigendecomposition():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4))
    stat = x @ x.T  # rank 4 of 6: two zero eigenvalues
    got = matrix_inverse_root(torch.tensor(stat), 0.25, EPS).numpy()
    np.testing.assert_allclose(got, inverse_root(stat, 0.25), rtol=1e-9, atol=1e-9)
    # (S + eps I)^(-1/4) to the 4th power inverts S + eps I.
    np.testing.assert_allclose(np.linalg.matrix_power(got, 4) @ (stat + EPS * np.eye(6)), np.eye(6), atol=1e-6)


@pytest.mark.parametrize("failure", ["raise", "nan"])
def test_failed_root_keeps_previous_and_warns(monkeypatch, failure):
    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.randn(4, 3))
    optimizer = Shampoo([param], lr=0.01, precondition_frequency=1)
    param.grad = torch.randn(4, 3)
    optimizer.step()
    previous = copy.deepcopy(optimizer.state[param]["left_root"])

    real_eigh = torch.linalg.eigh

    def broken_eigh(matrix):
        if failure == "raise":
            raise torch.linalg.LinAlgError("simulated failure to converge")
        values, vectors = real_eigh(matrix)
        return values * float("nan"), vectors

    monkeypatch.setattr(torch.linalg, "eigh", broken_eigh)
    param.grad = torch.randn(4, 3)
    with pytest.warns(RuntimeWarning) as record:
        optimizer.step()
    messages = [str(w.message) for w in record]
    assert any(re.search(r"left inverse root .* failed at step 2", m) for m in messages), messages
    assert any(re.search(r"right inverse root .* failed at step 2", m) for m in messages), messages
    assert optimizer.root_failures == 2  # left and right
    torch.testing.assert_close(optimizer.state[param]["left_root"], previous)
    assert torch.isfinite(param).all()


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))


def train(model, optimizer, batches):
    for x, y in batches:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()


def test_state_dict_resume_matches_uninterrupted_run():
    generator = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 6, generator=generator), torch.randn(8, 2, generator=generator)) for _ in range(12)]
    options = dict(lr=0.01, weight_decay=0.01, precondition_frequency=3, preconditioning="two_sided")

    straight = make_model()
    train(straight, Shampoo(straight.parameters(), **options), batches)

    first = make_model()
    optimizer = Shampoo(first.parameters(), **options)
    train(first, optimizer, batches[:7])  # stop between two root recomputations
    buffer = io.BytesIO()
    torch.save({"model": first.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)

    resumed = make_model()
    resumed.load_state_dict(saved["model"])
    resumed_optimizer = Shampoo(resumed.parameters(), **options)
    resumed_optimizer.load_state_dict(saved["optimizer"])
    train(resumed, resumed_optimizer, batches[7:])
    for a, b in zip(straight.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(
    "options, pattern",
    [
        ({"betas": (0.9, 1.0)}, r"betas\[1\] = 1\.0.*\[0, 1\)"),
        ({"betas": (-0.1, 0.9)}, r"betas\[0\] = -0\.1.*\[0, 1\)"),
        ({"epsilon": 0.0}, r"epsilon = 0\.0.*> 0"),
        ({"epsilon": float("nan")}, r"epsilon = nan"),
        ({"lr": -1.0}, r"lr = -1\.0.*>= 0"),
        ({"weight_decay": -0.1}, r"weight_decay = -0\.1"),
        ({"precondition_frequency": 0}, r"precondition_frequency = 0.*>= 1"),
        ({"max_precond_dim": 0}, r"max_precond_dim = 0"),
        ({"preconditioning": "three_sided"}, r"preconditioning = 'three_sided'.*two_sided"),
    ],
)
def test_invalid_arguments_raise(options, pattern):
    with pytest.raises(ValueError, match=pattern):
        Shampoo([torch.nn.Parameter(torch.zeros(2, 2))], **options)


def test_no_warning_on_healthy_run():
    param = torch.nn.Parameter(torch.randn(3, 3))
    optimizer = Shampoo([param], precondition_frequency=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            param.grad = torch.randn(3, 3)
            optimizer.step()
    assert optimizer.root_failures == 0
