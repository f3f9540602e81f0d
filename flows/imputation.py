"""The imputation pipeline: SPIRIT (diffusion with semi-proximal transport) against baselines.

Method: "Analyzing and Improving Diffusion Models for Time-Series Data Imputation: A Proximal
Recursion Perspective" (arXiv 2602.01182). Stages: load -> mask -> train (each diffusion
model) -> impute (each model) -> evaluate -> report; the data (windows, masks) is versioned
with DVC before training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from components.io import sha256_file
from flows.imputation_config import DIFFUSION_MODELS, STAGES, ImputationConfig
from flows.stages import current_flow_run_id, refreshed_stages, stage_runner
from tasks.imputation import array_file_ref, evaluate_task, impute_task, load_task, mask_task, report_task, train_task
from tasks.tracking import log_metrics, log_metrics_task, tracked_run
from tasks.versioning import version_task

SHARED_SERIES = "ett/ETTh1.csv"


def series_source(config: ImputationConfig) -> Path | None:
    """Return the configured file, else ETTh1 from the shared folder when present, else None (synthetic series)."""
    if config.data.path is not None:
        return config.data.path
    shared = config.shared_data / SHARED_SERIES
    return shared if shared.exists() else None


@flow(name="imputation", log_prints=False)
def imputation(config: ImputationConfig) -> dict[str, Any]:
    """Run the imputation pipeline and return its summary (metrics, run id, data hash, artifacts)."""
    logger = get_run_logger()
    refresh = refreshed_stages(STAGES, config.refresh)
    stage = stage_runner(refresh)
    flow_run_id = current_flow_run_id()
    with tracked_run(config.tracking.experiment, f"imputation-{config.preset}", config.model_dump(mode="json"),
                     {"prefect.flow_run_id": flow_run_id, "preset": config.preset}) as run_id:
        # Data: windows, then the evaluation conditions (clean at each rate, perturbed at one).
        source = series_source(config)
        fingerprint = sha256_file(source) if source is not None else "synthetic"
        data = stage(load_task, "load")(config.data, source, fingerprint)
        masks = stage(mask_task, "mask")(data, config.mask, config.robustness)
        versioned = version_task("imputation", {"windows": array_file_ref(data), "masks": array_file_ref(masks)},
                                 {"source": str(source) if source else "synthetic", "mask": config.mask.model_dump(mode="json")})
        log_metrics_task(run_id, {}, tags={"dvc.data_md5": versioned["dvc_md5"]})

        # Train each diffusion model in a nested run.
        timings: dict[str, float] = {}
        checkpoints = {}
        for model in (m for m in config.models if m in DIFFUSION_MODELS):
            with tracked_run(config.tracking.experiment, f"train-{model}",
                             {"diffusion": config.diffusion.model_dump(mode="json"), "spt": config.spt.model_dump(mode="json")},
                             {"prefect.flow_run_id": flow_run_id, "dvc.data_md5": versioned["dvc_md5"]},
                             parent_run_id=run_id) as child:
                training = stage(train_task, "train")(data, model, config.diffusion, config.spt)
                for epoch, record in enumerate(training["history"], start=1):
                    log_metrics(child, record, step=epoch)
            checkpoints[model] = training["checkpoint"]
            timings[f"time.{model}.train_seconds"] = training["train_seconds"]

        # Impute every condition with every model, then score and report.
        predictions = {}
        for model in config.models:
            result = stage(impute_task, "impute")(data, masks, model, checkpoints.get(model), config.diffusion, config.spt, config.psw)
            predictions[model] = result["predictions"]
            timings[f"time.{model}.impute_seconds"] = result["impute_seconds"]
        report = stage(evaluate_task, "evaluate")(masks, predictions)
        metrics = report_task(run_id, report, masks, predictions, timings)

    logger.info("imputation finished: run %s, data md5 %s", run_id, versioned["dvc_md5"])
    return {
        "flow": "imputation",
        "prefect_flow_run_id": flow_run_id,
        "mlflow_run_id": run_id,
        "dvc_data_md5": versioned["dvc_md5"],
        "metrics": metrics,
        "artifacts": {"data": versioned["path"], "report": report.path,
                      **{f"predictions.{m}": ref.path for m, ref in predictions.items()}},
    }
