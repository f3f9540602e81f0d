"""The optimizers pipeline: AdamW, Shampoo (two- and one-sided) and mSGDW under budgeted schedules.

Methods: AdamW-style Shampoo (arXiv 2601.07326), momentum SGD with decoupled
weight decay, the Unified Budget-Aware schedule (arXiv 2505.24452) and the
Deeply Normalized Transformer (arXiv 2507.17501). Stages: data -> version ->
grid -> report. Every grid cell is its own cached task, so an interrupted grid
resumes where it stopped. A diverged or failed cell is recorded and the grid goes on.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from flows.optimizers_config import SHARED_TEXT, STAGES, OptimizersConfig
from flows.stages import current_flow_run_id, refreshed_stages, stage_runner
from tasks.optimizers import (
    log_cells_task,
    log_report_task,
    prepare_digits_task,
    prepare_text_task,
    report_task,
    train_cell_task,
)
from tasks.proofs import input_fingerprints
from tasks.tracking import experiment_id, log_metrics_task, tracked_run
from tasks.versioning import version_task


def text_source(config: OptimizersConfig) -> Path | None:
    """Return the text file to train the GPT on: the configured one, else the shared corpus, else None (built-in)."""
    if config.data.text_path is not None:
        return config.data.text_path
    shared = config.shared_data / SHARED_TEXT
    return shared if shared.is_file() else None


def grid_cells(config: OptimizersConfig) -> list[dict[str, Any]]:
    """Expand the grid into cells; UBA appears once per phi, other schedules once (phi unused)."""
    grid = config.grid
    schedules = [(name, phi) for name in grid.schedules for phi in (grid.uba_phis if name == "uba" else [1.0])]
    cells = []
    for model, optimizer, (schedule, phi), budget, seed in itertools.product(
        grid.models, grid.optimizers, schedules, grid.budgets, grid.seeds
    ):
        label = f"uba-phi{phi:g}" if schedule == "uba" else schedule
        cells.append({"model": model, "optimizer": optimizer, "schedule": label, "schedule_name": schedule, "phi": phi,
                      "budget": budget, "seed": seed, "label": f"{model}/{optimizer}/{label}/T{budget}/s{seed}"})
    return cells


@flow(name="optimizers", log_prints=False)
def optimizers(config: OptimizersConfig) -> dict[str, Any]:
    """Run the optimizer comparison grid and return its summary (claim numbers, run id, data hash, artifacts)."""
    logger = get_run_logger()
    refresh = refreshed_stages(STAGES, config.refresh)
    stage = stage_runner(refresh)
    flow_run_id = current_flow_run_id()
    with tracked_run(config.tracking.experiment, f"optimizers-{config.preset}", config.model_dump(mode="json"),
                     {"prefect.flow_run_id": flow_run_id, "preset": config.preset}) as run_id:
        # Data: the character corpus and the digits split.
        families = {m.split("-")[0] for m in config.grid.models}
        path = text_source(config)
        text = digits = None
        if "gpt" in families:
            text = stage(prepare_text_task, "data")(config.data, path, input_fingerprints([path]) if path else {},
                                                    config.train.seq_len)
        if families & {"vit", "mlp"}:
            digits = stage(prepare_digits_task, "data")(config.data)

        # Version the prepared arrays and point the run at them.
        prepared = {name: entry for name, entry in (("text", text), ("digits", digits)) if entry}
        versioned = version_task("optimizers", {name: entry["ref"] for name, entry in prepared.items()},
                                 {name: {k: v for k, v in entry.items() if k != "ref"} for name, entry in prepared.items()})
        log_metrics_task(run_id, {}, tags={"dvc.data_md5": versioned["dvc_md5"]})

        # The grid: one cached task per cell; a failed cell is recorded, not raised.
        rows = []
        for cell in grid_cells(config):
            data_ref = text["ref"] if cell["model"].startswith("gpt") else digits["ref"]
            # Only the cell's own learning rate enters its cache key, so changing another optimizer's lr keeps it.
            train = config.train.model_copy(update={"lr": {cell["optimizer"]: config.train.lr[cell["optimizer"]]}})
            state = stage(train_cell_task, "grid").with_options(task_run_name=cell["label"])(
                cell, data_ref, config.model, train, return_state=True)
            if state.is_completed():
                rows.append(state.result())
            else:
                logger.warning("cell %s failed: %s", cell["label"], state.message)
                rows.append({**cell, "status": "failed", "error": str(state.message), "val": [], "lr": []})
        log_cells_task(experiment_id(config.tracking.experiment), run_id, rows,
                       {"prefect.flow_run_id": flow_run_id, "dvc.data_md5": versioned["dvc_md5"]})

        # Report: table, claim numbers and plots on the parent run.
        report = stage(report_task, "report")(rows)
        log_report_task(run_id, report)
        counts = {f"cells.{status}": float(sum(r["status"] == status for r in rows)) for status in ("ok", "diverged", "failed")}
        log_metrics_task(run_id, counts)

    logger.info("optimizers finished: run %s, %d cells, data md5 %s", run_id, len(rows), versioned["dvc_md5"])
    return {
        "flow": "optimizers",
        "prefect_flow_run_id": flow_run_id,
        "mlflow_run_id": run_id,
        "dvc_data_md5": versioned["dvc_md5"],
        "metrics": {**{f"claim.{k}": v for k, v in report["claims"].items()}, **counts},
        "artifacts": {"data": versioned["path"], "report": str(Path(report["ref"].path)),
                      "text_source": text["source"] if text else None},
    }
