"""Symmetry stages through `.fn()`: simulate, system with the exact Jacobian, SVD, sparsify, compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from prefect.logging import disable_run_logger

from components.errors import InputError
from flows.symmetry_config import SYMMETRY_STAGES, DiscoveryConfig, FitConfig, PDEConfig, SimulationConfig, SymmetryConfig


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("REPROLAB_HOME", str(tmp_path))
    return tmp_path


def test_heat_stages_with_exact_jacobian(home):
    from tasks.symmetry import compare_task, simulate_task, sparsify_task, svd_task, system_task

    pde = PDEConfig(n_x=48)
    discovery = DiscoveryConfig(n_samples=800)
    with disable_run_logger():
        data = simulate_task.fn("heat", pde, SimulationConfig(n_trajectories=1))
        system = system_task.fn("heat", data, None, pde, FitConfig(jacobian="exact"), discovery)
        svd = svd_task.fn("heat", system, pde.threshold)
        generators = sparsify_task.fn("heat", svd, discovery)
        comparison = compare_task.fn("heat", svd, pde, discovery)

    with np.load(home / data.path) as arrays:
        assert arrays["u"].shape == (1, 1, 101, 48)
    assert comparison["true"] == 8
    assert comparison["found"] == 8
    assert comparison["recovered"] == 8
    assert comparison["grassmann_distance"] < 1e-2
    assert "2t d/dt + x d/dx" in generators
    assert "d/dt" in generators


def test_library_too_large_for_samples(home):
    from tasks.symmetry import simulate_task, system_task

    pde = PDEConfig(n_x=32)
    with disable_run_logger():
        data = simulate_task.fn("heat", pde, SimulationConfig(n_trajectories=1, t_end=0.2))
        with pytest.raises(InputError, match=r"discovery\.n_samples.*library has 60 unknown"):
            system_task.fn("heat", data, None, pde, FitConfig(jacobian="exact"), DiscoveryConfig(degree=3, n_samples=50))


def test_config_ranges_name_the_field():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"threshold"):
        PDEConfig(threshold=0.0)
    with pytest.raises(ValidationError, match=r"accuracy must be even"):
        DiscoveryConfig(accuracy=3)


def test_registry_stages_match_config():
    from flows.registry import FLOWS

    assert FLOWS["symmetry"].stages == SYMMETRY_STAGES
    assert SymmetryConfig().pdes.enabled().keys() == {"heat", "burgers", "kdv", "wave", "lambda_omega"}
