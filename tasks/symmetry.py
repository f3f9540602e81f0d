"""Stages of the symmetry pipeline: simulate, fit, build the system, SVD, sparsify, compare, log."""

from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from components.symmetry.derivatives import check_uniform
from components.symmetry.discovery import (
    accumulate_r,
    build_criterion,
    check_library_size,
    column_scale,
    draw_samples,
    format_generator,
    grassmann_distance,
    null_space,
    recovered_count,
    sparsify,
    truth_basis,
)
from components.symmetry.fit import DynamicsMLP, fit_dynamics, network_jacobian
from components.symmetry.pdes import (
    coefficients,
    generator_to_vector,
    known_generators,
    pde_spec,
    simulate,
    symbolic_rhs,
)
from components.symmetry.plots import singular_value_figure
from flows.settings import project_home
from flows.symmetry_config import DiscoveryConfig, FitConfig, PDEConfig, SimulationConfig
from tasks.caching import STAGE_CACHE
from tasks.tracking import log_metrics


def _store() -> ArtifactStore:
    return ArtifactStore(project_home())


def load_dataset(ref: ArtifactRef) -> dict[str, np.ndarray]:
    """Read a dataset .npz (t, x, u) and check that its grids are uniform."""
    with np.load(_store().resolve(ref)) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["dt"] = check_uniform(arrays["t"], "t")
    arrays["dx"] = check_uniform(arrays["x"], "x")
    return arrays


@task(name="simulate", cache_policy=STAGE_CACHE, persist_result=True)
def simulate_task(name: str, pde: PDEConfig, config: SimulationConfig) -> ArtifactRef:
    """Simulate random periodic solutions of one PDE and store t, x and u."""
    spec = pde_spec(name)
    params = coefficients(spec, pde.coefficients)
    grid, u = simulate(spec, params, n_trajectories=config.n_trajectories, n_x=pde.n_x, length=pde.length,
                       t_end=config.t_end, dt_save=pde.dt_save, dt=pde.dt_save / config.substeps, modes=config.modes,
                       amplitude=pde.amplitude, seed=config.seed)
    get_run_logger().info("%s: simulated u of shape %s (%s)", name, u.shape, spec.description)
    return _store().put_npz(f"symmetry-{name}", {"t": grid.t, "x": grid.x, "u": u}, count=u.shape[0])


def _fit_samples(name: str, data: dict[str, np.ndarray], n: int, degree: int, accuracy: int, seed: int):
    criterion = build_criterion(pde_spec(name), degree)
    samples = draw_samples(criterion, data["t"], data["x"], data["u"], data["dt"], data["dx"], n, seed, accuracy)
    inputs = np.stack([samples.jets[key] for key in criterion.inputs()], axis=1)
    targets = np.stack([samples.jets[key] for key in criterion.targets()], axis=1)
    return criterion, samples, inputs, targets


@task(name="fit", cache_policy=STAGE_CACHE, persist_result=True)
def fit_task(name: str, data_ref: ArtifactRef, fit: FitConfig, discovery: DiscoveryConfig) -> dict[str, Any]:
    """Fit the network F on central-difference jets; returns the checkpoint ref, history and validation error."""
    data = load_dataset(data_ref)
    _, _, inputs, targets = _fit_samples(name, data, fit.n_train, discovery.degree, discovery.accuracy, fit.seed)
    result = fit_dynamics(inputs, targets, hidden=fit.hidden, layers=fit.layers, epochs=fit.epochs,
                          batch_size=fit.batch_size, lr=fit.lr, val_fraction=fit.val_fraction, seed=fit.seed,
                          lbfgs_steps=fit.lbfgs_steps)
    state = {key: value.numpy() for key, value in result.model.state_dict().items()}
    ref = _store().put_npz(f"symmetry-model-{name}", state)
    get_run_logger().info("%s: network fit, validation relative MSE %.3g", name, result.val_relative_mse)
    return {"checkpoint": ref, "history": result.history, "val_relative_mse": result.val_relative_mse,
            "n_in": inputs.shape[1], "n_out": targets.shape[1]}


def _load_model(fitted: dict[str, Any], fit: FitConfig) -> DynamicsMLP:
    model = DynamicsMLP(fitted["n_in"], fitted["n_out"], fit.hidden, fit.layers)
    with np.load(_store().resolve(fitted["checkpoint"])) as state:
        model.load_state_dict({key: torch.tensor(state[key]) for key in state.files})
    return model


def _exact_jacobian(criterion, params: dict[str, float], inputs: np.ndarray) -> np.ndarray:
    symbols = [criterion.jets.jet(*key) for key in criterion.inputs()]
    rhs = symbolic_rhs(criterion.spec, criterion.jets, params)
    jacobian = np.zeros((len(inputs), len(rhs), len(symbols)))
    for f, expr in enumerate(rhs):
        for i, symbol in enumerate(symbols):
            derivative = sp.lambdify(symbols, sp.diff(expr, symbol), "numpy")(*inputs.T)
            jacobian[:, f, i] = np.broadcast_to(derivative, (len(inputs),))
    return jacobian


@task(name="system", cache_policy=STAGE_CACHE, persist_result=True)
def system_task(name: str, data_ref: ArtifactRef, fitted: dict[str, Any] | None, pde: PDEConfig, fit: FitConfig,
                discovery: DiscoveryConfig) -> ArtifactRef:
    """Build the criterion's linear system on fresh samples; store its R factor and column scale."""
    data = load_dataset(data_ref)
    spec = pde_spec(name)
    criterion = build_criterion(spec, discovery.degree)
    check_library_size(criterion.n_columns, discovery.n_samples, len(spec.fields), discovery.min_equations_per_unknown)
    samples = draw_samples(criterion, data["t"], data["x"], data["u"], data["dt"], data["dx"], discovery.n_samples,
                           discovery.seed + 1, discovery.accuracy)
    inputs = np.stack([samples.jets[key] for key in criterion.inputs()], axis=1)
    if fitted is None:
        jacobian = _exact_jacobian(criterion, coefficients(spec, pde.coefficients), inputs)
    else:
        jacobian = network_jacobian(_load_model(fitted, fit), inputs)
    r = accumulate_r(criterion, samples, jacobian)
    get_run_logger().info("%s: linear system with %d rows and %d unknowns", name, len(samples.t) * len(spec.fields), criterion.n_columns)
    return _store().put_npz(f"symmetry-system-{name}", {"r": r, "column_scale": column_scale(criterion, samples)})


@task(name="svd", cache_policy=STAGE_CACHE, persist_result=True)
def svd_task(name: str, system_ref: ArtifactRef, threshold: float) -> ArtifactRef:
    """Take the SVD of the system and keep the right singular vectors below the threshold."""
    with np.load(_store().resolve(system_ref)) as system:
        scale = system["column_scale"]
        result = null_space(system["r"], threshold, scale)
    get_run_logger().info("%s: null space of dimension %d", name, result.basis.shape[1])
    return _store().put_npz(f"symmetry-svd-{name}", {"singular_values": result.singular_values, "basis": result.basis,
                                                     "threshold": np.array(threshold), "column_scale": scale})


@task(name="sparsify", cache_policy=STAGE_CACHE, persist_result=True)
def sparsify_task(name: str, svd_ref: ArtifactRef, discovery: DiscoveryConfig) -> list[str]:
    """Sparsify the null-space basis and write each generator as a vector field."""
    criterion = build_criterion(pde_spec(name), discovery.degree)
    with np.load(_store().resolve(svd_ref)) as svd:
        sparse = sparsify(svd["basis"], discovery.sparsify_tol, svd["column_scale"])
    return [format_generator(vector, criterion.library, criterion.variables) for vector in sparse]


@task(name="compare", cache_policy=STAGE_CACHE, persist_result=True)
def compare_task(name: str, svd_ref: ArtifactRef, pde: PDEConfig, discovery: DiscoveryConfig) -> dict[str, Any]:
    """Compare the found span with the known generators: counts and Grassmann distance."""
    spec = pde_spec(name)
    params = coefficients(spec, pde.coefficients)
    criterion = build_criterion(spec, discovery.degree)
    truth = truth_basis(criterion, params)
    with np.load(_store().resolve(svd_ref)) as svd:
        basis, singular_values, threshold = svd["basis"], svd["singular_values"], float(svd["threshold"])
    true_fields = [
        format_generator(generator_to_vector(components, criterion.library, criterion.jets), criterion.library, criterion.variables)
        for components in known_generators(spec, criterion.jets, params)
    ]
    return {
        "found": int(basis.shape[1]),
        "true": int(truth.shape[1]),
        "recovered": recovered_count(truth, basis),
        "grassmann_distance": grassmann_distance(basis, truth),
        "true_generators": true_fields,
        "singular_values": singular_values.tolist(),
        "threshold": threshold,
        "unknowns": criterion.n_columns,
    }


@task(name="log-symmetry")
def log_symmetry_task(run_id: str, name: str, comparison: dict[str, Any], generators: list[str],
                      fitted: dict[str, Any] | None) -> dict[str, float]:
    """Log one PDE's metrics, singular-value plot, generators and fit history; return its flat metrics."""
    client = MlflowClient()
    metrics = {f"{name}.{key}": float(comparison[key]) for key in ("found", "true", "recovered", "grassmann_distance")}
    if fitted is not None:
        metrics[f"{name}.fit_val_relative_mse"] = float(fitted["val_relative_mse"])
        for epoch, entry in enumerate(fitted["history"], start=1):
            log_metrics(run_id, {f"{name}.fit.{key}": value for key, value in entry.items()}, step=epoch)
    log_metrics(run_id, metrics)
    figure = singular_value_figure(np.array(comparison["singular_values"]), comparison["threshold"], comparison["true"],
                                   f"{name}: found {comparison['found']}, true {comparison['true']}")
    client.log_figure(run_id, figure, f"plots/singular_values_{name}.png")
    plt.close(figure)
    client.log_dict(run_id, {"found": generators, "true": comparison["true_generators"],
                             "singular_values": comparison["singular_values"], "threshold": comparison["threshold"]},
                    f"generators/{name}.json")
    client.log_text(run_id, "\n".join(generators) + "\n", f"generators/{name}.txt")
    return {k: v for k, v in metrics.items() if math.isfinite(v)}
