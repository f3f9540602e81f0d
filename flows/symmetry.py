"""The symmetry pipeline: LieNLSD discovery of Lie point symmetries from simulated PDE data.

Method: "Explicit Discovery of Nonlinear Symmetries from Dynamic Data" (LieNLSD,
ICML 2025, arXiv 2510.01855). Stages per PDE: simulate -> version -> fit the
network F -> build the linear system of the invariance criterion -> SVD ->
sparsify -> compare with the known generators.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from flows.stages import current_flow_run_id, refreshed_stages, stage_runner
from flows.symmetry_config import SYMMETRY_STAGES, SymmetryConfig
from tasks.symmetry import (
    compare_task,
    fit_task,
    log_symmetry_task,
    simulate_task,
    sparsify_task,
    svd_task,
    system_task,
)
from tasks.tracking import log_metrics_task, tracked_run
from tasks.versioning import version_task


@flow(name="symmetry", log_prints=False)
def symmetry(config: SymmetryConfig) -> dict[str, Any]:
    """Discover the symmetry generators of each enabled PDE and compare them with the known ones."""
    logger = get_run_logger()
    refresh = refreshed_stages(SYMMETRY_STAGES, config.refresh)
    stage = stage_runner(refresh)
    flow_run_id = current_flow_run_id()
    with tracked_run(config.tracking.experiment, f"symmetry-{config.preset}", config.model_dump(mode="json"),
                     {"prefect.flow_run_id": flow_run_id, "preset": config.preset}) as run_id:
        pdes = config.pdes.enabled()

        # Data: simulate each PDE and version the datasets together.
        datasets = {name: stage(simulate_task, "simulate")(name, pde, config.simulate) for name, pde in pdes.items()}
        versioned = version_task("symmetry", datasets, {"simulate": config.simulate.model_dump(mode="json"),
                                                        "pdes": {n: p.model_dump(mode="json") for n, p in pdes.items()}})
        log_metrics_task(run_id, {}, tags={"dvc.data_md5": versioned["dvc_md5"]})

        # Discovery per PDE: fit F, build C, SVD, sparsify, compare.
        metrics: dict[str, float] = {}
        generators: dict[str, list[str]] = {}
        for name, pde in pdes.items():
            fitted = None
            if config.fit.jacobian == "network":
                fitted = stage(fit_task, "fit")(name, datasets[name], config.fit, config.discovery)
            system = stage(system_task, "system")(name, datasets[name], fitted, pde, config.fit, config.discovery)
            svd = stage(svd_task, "svd")(name, system, pde.threshold)
            generators[name] = stage(sparsify_task, "sparsify")(name, svd, config.discovery)
            comparison = stage(compare_task, "compare")(name, svd, pde, config.discovery)
            metrics.update(log_symmetry_task(run_id, name, comparison, generators[name], fitted))
            logger.info("%s: found %d generators, true %d, Grassmann distance %.3g", name, comparison["found"],
                        comparison["true"], comparison["grassmann_distance"])

    return {
        "flow": "symmetry",
        "prefect_flow_run_id": flow_run_id,
        "mlflow_run_id": run_id,
        "dvc_data_md5": versioned["dvc_md5"],
        "metrics": metrics,
        "generators": generators,
        "artifacts": {"data": versioned["path"], "plots": f"runs:/{run_id}/plots", "generators": f"runs:/{run_id}/generators"},
    }
