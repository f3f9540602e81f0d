"""Simulators, the linear system, SVD, sparsification, formatting and input errors of the symmetry pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from components.errors import InputError
from components.symmetry.discovery import (
    accumulate_r,
    build_criterion,
    check_finite,
    check_library_size,
    column_scale,
    draw_samples,
    format_generator,
    grassmann_distance,
    null_space,
    principal_angles,
    recovered_count,
    sparsify,
    truth_basis,
)
from components.symmetry.fit import fit_dynamics, network_jacobian
from components.symmetry.pdes import PDES, coefficients, simulate, symbolic_rhs

SIMULATION = {"heat": (64, 2 * np.pi, 0.01, 1.0), "wave": (64, 2 * np.pi, 0.01, 1.0)}


def simulated(name: str, n_trajectories: int = 2):
    n_x, length, dt_save, amplitude = SIMULATION[name]
    spec = PDES[name]
    return simulate(spec, coefficients(spec), n_trajectories=n_trajectories, n_x=n_x, length=length, t_end=1.0,
                    dt_save=dt_save, dt=dt_save / 10, modes=3, amplitude=amplitude, seed=0)


def exact_jacobian(criterion, inputs):
    symbols = [criterion.jets.jet(*key) for key in criterion.inputs()]
    rhs = symbolic_rhs(criterion.spec, criterion.jets, coefficients(criterion.spec))
    out = np.zeros((len(inputs), len(rhs), len(symbols)))
    for f, expr in enumerate(rhs):
        for i, symbol in enumerate(symbols):
            out[:, f, i] = np.broadcast_to(sp.lambdify(symbols, sp.diff(expr, symbol))(*inputs.T), (len(inputs),))
    return out


def test_heat_simulation_matches_fourier_decay():
    spec = PDES["heat"]
    nu = coefficients(spec)["nu"]
    grid, u = simulated("heat", n_trajectories=1)
    modes0 = np.fft.rfft(u[0, 0, 0])
    modes1 = np.fft.rfft(u[0, 0, -1])
    k = 2 * np.pi * np.fft.rfftfreq(grid.x.size, d=grid.x[1] - grid.x[0])
    np.testing.assert_allclose(modes1[:4], modes0[:4] * np.exp(-nu * k[:4] ** 2 * grid.t[-1]), rtol=1e-8, atol=1e-10)


def test_burgers_simulation_satisfies_pde():
    spec = PDES["burgers"]
    grid, u = simulate(spec, coefficients(spec), n_trajectories=1, n_x=64, length=2 * np.pi, t_end=0.5, dt_save=0.01,
                       dt=0.001, modes=3, amplitude=0.5, seed=1)
    criterion = build_criterion(spec, 1)
    samples = draw_samples(criterion, grid.t, grid.x, u, 0.01, grid.x[1] - grid.x[0], 500, 0)
    jets = samples.jets
    residual = jets[(0, 1, 0)] - (-jets[(0, 0, 0)] * jets[(0, 0, 1)] + 0.1 * jets[(0, 0, 2)])
    assert np.abs(residual).max() < 1e-2 * np.abs(jets[(0, 1, 0)]).max()


@pytest.mark.parametrize("name", ["heat", "wave"])
def test_exact_jacobian_recovers_all_generators(name):
    spec = PDES[name]
    criterion = build_criterion(spec, 2)
    grid, u = simulated(name)
    samples = draw_samples(criterion, grid.t, grid.x, u, grid.t[1], grid.x[1] - grid.x[0], 1200, 0)
    inputs = np.stack([samples.jets[key] for key in criterion.inputs()], axis=1)
    r = accumulate_r(criterion, samples, exact_jacobian(criterion, inputs), chunk=500)
    result = null_space(r, 1e-3, column_scale(criterion, samples))
    truth = truth_basis(criterion, coefficients(spec))
    assert result.basis.shape[1] == truth.shape[1]
    assert grassmann_distance(result.basis, truth) < 1e-2
    assert recovered_count(truth, result.basis) == truth.shape[1]


def test_accumulated_r_has_singular_values_of_full_matrix():
    spec = PDES["heat"]
    criterion = build_criterion(spec, 1)
    grid, u = simulated("heat")
    samples = draw_samples(criterion, grid.t, grid.x, u, grid.t[1], grid.x[1] - grid.x[0], 300, 0)
    inputs = np.stack([samples.jets[key] for key in criterion.inputs()], axis=1)
    jacobian = exact_jacobian(criterion, inputs)
    full = criterion.evaluate(samples.t, samples.x, samples.jets, jacobian)
    r = accumulate_r(criterion, samples, jacobian, chunk=64)
    np.testing.assert_allclose(np.linalg.svd(r, compute_uv=False), np.linalg.svd(full, compute_uv=False), rtol=1e-8, atol=1e-10)


def test_network_fit_recovers_heat_jacobian():
    spec = PDES["heat"]
    criterion = build_criterion(spec, 1)
    grid, u = simulated("heat")
    samples = draw_samples(criterion, grid.t, grid.x, u, grid.t[1], grid.x[1] - grid.x[0], 1500, 0)
    inputs = np.stack([samples.jets[key] for key in criterion.inputs()], axis=1)
    targets = np.stack([samples.jets[key] for key in criterion.targets()], axis=1)
    result = fit_dynamics(inputs, targets, hidden=32, layers=2, epochs=20, batch_size=256, lr=3e-3, val_fraction=0.1,
                          seed=0, lbfgs_steps=200)
    assert result.val_relative_mse < 1e-4
    jacobian = network_jacobian(result.model, inputs)
    assert jacobian.shape == (1500, 1, 3)
    np.testing.assert_allclose(np.median(jacobian[:, 0, 2]), coefficients(spec)["nu"], rtol=0.05)


def test_sparsify_returns_echelon_basis_of_same_span():
    rng = np.random.default_rng(0)
    sparse = np.zeros((6, 2))
    sparse[0, 0], sparse[3, 0] = 1.0, 2.0
    sparse[1, 1], sparse[4, 1] = 1.0, -0.5
    mixed = sparse @ rng.normal(size=(2, 2))
    rows = sparsify(np.linalg.qr(mixed)[0])
    assert grassmann_distance(rows.T, sparse) < 1e-10
    assert np.count_nonzero(rows) == 4
    np.testing.assert_allclose(rows[0], [1, 0, 0, 2, 0, 0], atol=1e-10)
    np.testing.assert_allclose(rows[1], [0, 2, 0, 0, -1, 0], atol=1e-10)  # first entry made positive


def test_format_generator_reads_like_a_vector_field():
    criterion = build_criterion(PDES["heat"], 2)
    t, x, u = sp.symbols("t x u")
    from components.symmetry.pdes import generator_to_vector

    vector = generator_to_vector([2 * t, x, sp.Integer(0)], criterion.library, criterion.jets)
    assert format_generator(vector, criterion.library, criterion.variables) == "2t d/dt + x d/dx"
    vector = generator_to_vector([sp.Integer(0), sp.Integer(0), x**2 + sp.Rational(2, 5) * t], criterion.library, criterion.jets)
    assert format_generator(vector, criterion.library, criterion.variables) == "(0.4t + x^2) d/du"
    vector = generator_to_vector([sp.Integer(1), sp.Integer(0), -x * u], criterion.library, criterion.jets)
    assert format_generator(vector, criterion.library, criterion.variables) == "d/dt - xu d/du"


def test_principal_angles_of_known_planes():
    a = np.eye(3)[:, :2]
    b = np.array([[1.0, 0.0], [0.0, np.cos(0.3)], [0.0, np.sin(0.3)]])
    np.testing.assert_allclose(principal_angles(a, b), [0.0, 0.3], atol=1e-12)
    assert grassmann_distance(a, b) == pytest.approx(0.3)


def test_nan_in_data_rejected():
    u = np.zeros((1, 1, 10, 8))
    u[0, 0, 4, 3] = np.nan
    with pytest.raises(InputError, match=r"field 'u\[0\]'.*time index 4, x index 3"):
        check_finite(u)


def test_library_too_large_rejected():
    criterion = build_criterion(PDES["heat"], 3)
    with pytest.raises(InputError, match=r"library has 60 unknown.*100 samples.*discovery\.n_samples"):
        check_library_size(criterion.n_columns, 100, 1, 5.0)


def test_non_uniform_time_grid_rejected_before_discovery(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROLAB_HOME", str(tmp_path))
    from components.artifacts import ArtifactStore
    from tasks.symmetry import load_dataset

    t = np.array([0.0, 0.01, 0.02, 0.04, 0.05])
    ref = ArtifactStore(tmp_path).put_npz("symmetry-test", {"t": t, "x": np.linspace(0, 1, 8, endpoint=False),
                                                            "u": np.zeros((1, 1, 5, 8))})
    with pytest.raises(InputError, match=r"field 't'.*not uniform"):
        load_dataset(ref)
