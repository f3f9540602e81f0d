"""Stages of the optimizers pipeline: prepare data, train one grid cell, log the grid, build the report."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from components.optim.data import (
    build_char_corpus,
    load_char_corpus,
    load_digits_split,
    load_image_split,
    read_text,
    char_corpus_arrays,
    image_split_arrays,
)
from components.optim.experiment import (
    ModelSettings,
    OptimizerSettings,
    build_model,
    build_optimizer,
    image_task,
    text_task,
    train_run,
)
from components.optim.report import (
    claim_checks,
    comparison_table,
    curves_figure,
    lr_figure,
    markdown_table,
    schedules_figure,
)
from components.optim.schedules import Schedule
from flows.optimizers_config import DataSection, ModelSection, TrainSection
from flows.settings import project_home
from tasks.caching import STAGE_CACHE
from tasks.tracking import log_metrics


def _store() -> ArtifactStore:
    store = ArtifactStore(project_home())
    # put_directory stages inside the store root without creating it, so a fresh home needs it made here.
    store.root.mkdir(parents=True, exist_ok=True)
    return store


@task(name="data-text", cache_policy=STAGE_CACHE, persist_result=True)
def prepare_text_task(data: DataSection, text_path: Path | None, fingerprints: dict[str, str], seq_len: int) -> dict[str, Any]:
    """Encode the text corpus by characters, split it and store the arrays; return the reference and its facts."""
    text, source = read_text(text_path, data.max_chars)
    corpus = build_char_corpus(text, data.val_fraction, min_split_chars=seq_len + 2)
    ref = _store().put_npz("optimizers-text", char_corpus_arrays(corpus), count=len(corpus.train) + len(corpus.val))
    get_run_logger().info("text corpus %s: %d train and %d validation characters, vocabulary %d",
                          source, len(corpus.train), len(corpus.val), corpus.vocab_size)
    return {"ref": ref, "source": source, "vocab_size": corpus.vocab_size,
            "train_chars": len(corpus.train), "val_chars": len(corpus.val)}


@task(name="data-digits", cache_policy=STAGE_CACHE, persist_result=True)
def prepare_digits_task(data: DataSection) -> dict[str, Any]:
    """Split scikit-learn's digits with stratification and store the arrays."""
    split = load_digits_split(data.digits_val_fraction, data.seed)
    ref = _store().put_npz("optimizers-digits", image_split_arrays(split), count=len(split.train_y) + len(split.val_y))
    return {"ref": ref, "source": "sklearn.datasets.load_digits", "train_images": len(split.train_y),
            "val_images": len(split.val_y)}


def make_schedule(name: str, phi: float, budget: int, train: TrainSection) -> Schedule:
    return Schedule(name, budget, warmup_steps=int(train.warmup_fraction * budget), min_lr_ratio=train.min_lr_ratio,
                    phi=phi)


@task(name="cell", cache_policy=STAGE_CACHE, persist_result=True)
def train_cell_task(cell: dict[str, Any], data_ref: ArtifactRef, model: ModelSection, train: TrainSection) -> dict[str, Any]:
    """Train one grid cell (model, optimizer, schedule, phi, budget, seed); a diverged run returns its record."""
    logger = get_run_logger()
    torch.set_num_threads(train.threads)
    torch.manual_seed(cell["seed"])
    path = _store().resolve(data_ref)
    sizes = ModelSettings(**model.model_dump())

    # Data and model for the cell's family.
    if cell["model"].startswith("gpt"):
        corpus = load_char_corpus(path)
        net = build_model(cell["model"], sizes, vocab_size=corpus.vocab_size, seq_len=train.seq_len)
        sample, evaluate = text_task(corpus, train.seq_len, train.batch_size, train.eval_windows, cell["seed"])
    else:
        split = load_image_split(path)
        net = build_model(cell["model"], sizes, image_size=split.train_x.shape[1], n_classes=split.n_classes)
        sample, evaluate = image_task(split, train.image_batch_size, cell["seed"])

    # Optimizer and schedule, then the run.
    settings = OptimizerSettings(lr=train.lr[cell["optimizer"]], weight_decay=train.weight_decay, betas=tuple(train.betas),
                                 epsilon=train.epsilon, momentum=train.momentum,
                                 precondition_frequency=train.precondition_frequency,
                                 max_precond_dim=train.max_precond_dim)
    optimizer = build_optimizer(cell["optimizer"], net, settings)
    schedule = make_schedule(cell["schedule_name"], cell["phi"], cell["budget"], train)
    started = time.perf_counter()
    result = train_run(net, optimizer, schedule, sample, evaluate, eval_every=train.eval_every, grad_clip=train.grad_clip)
    summary = result.summary()
    status = "diverged" if result.diverged_step is not None else "ok"
    logger.info("%s: %s in %.1f s, final val loss %s", cell["label"], status, time.perf_counter() - started,
                summary.get("final_val_loss"))
    return {**cell, **summary, "status": status, "diverged_step": result.diverged_step, "train_loss": result.train_loss,
            "lr": result.lr, "val": result.val, "grad_tail": result.grad_tail, "root_failures": result.root_failures}


def log_curves(client: MlflowClient, run_id: str, row: dict[str, Any]) -> None:
    """Log a cell's per-step curves in batches of 1000 metrics, so a cell costs a few requests instead of one per step."""
    now = int(time.time() * 1000)
    metrics = []
    for step, (loss, lr) in enumerate(zip(row["train_loss"], row["lr"]), start=1):
        metrics += [Metric("train_loss", loss, now, step), Metric("lr", lr, now, step)]
    for prefix, points in (("", row["val"]), ("grad_", row["grad_tail"])):
        for point in points:
            metrics += [Metric(f"{prefix}{key}", value, now, int(point["step"]))
                        for key, value in point.items() if key != "step"]
    metrics = [m for m in metrics if math.isfinite(m.value)]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


@task(name="log-cells")
def log_cells_task(experiment_id: str, parent_run_id: str, rows: list[dict[str, Any]], tags: dict[str, str]) -> None:
    """Log one nested MLflow run per cell with its settings, curves and final metrics."""
    client = MlflowClient()
    for row in rows:
        run = client.create_run(experiment_id, run_name=row["label"],
                                tags={"mlflow.parentRunId": parent_run_id, "status": row["status"], **tags})
        run_id = run.info.run_id
        client.log_batch(run_id, params=[Param(key, str(row[key]))
                                         for key in ("model", "optimizer", "schedule", "phi", "budget", "seed")])
        if row["status"] == "failed":
            client.set_tag(run_id, "error", row.get("error", "")[:5000])
            client.set_terminated(run_id, "FAILED")
            continue
        log_curves(client, run_id, row)
        finals = {k: row[k] for k in ("final_val_loss", "final_val_accuracy", "grad_kurtosis", "grad_tail_index",
                                       "seconds_per_step", "root_seconds", "steps_done") if row.get(k) is not None}
        if row["diverged_step"] is not None:
            finals["diverged_step"] = row["diverged_step"]
        log_metrics(run_id, finals)
        client.set_terminated(run_id, "FINISHED")


@task(name="report", cache_policy=STAGE_CACHE, persist_result=True)
def report_task(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Build the comparison table, the claim checks and the plots; store them as one folder."""
    table = comparison_table(rows)
    checks = claim_checks(rows)
    budgets = sorted({r["budget"] for r in rows})
    models = sorted({r["model"] for r in rows})
    schedules = sorted({r["schedule"] for r in rows})
    curve_schedule = "cosine" if "cosine" in schedules else schedules[0]

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        pd.DataFrame(table).to_csv(folder / "table.csv", index=False)
        (folder / "table.md").write_text(markdown_table(table), encoding="utf-8")
        pd.Series(checks, dtype=float).to_json(folder / "claims.json", indent=1)
        figures = {f"curves_{m}.png": curves_figure(rows, m, curve_schedule, budgets[-1]) for m in models}
        figures |= {f"schedules_{m}.png": schedules_figure(rows, m) for m in models}
        figures["lr_schedules.png"] = lr_figure(rows, budgets[-1])
        for name, figure in figures.items():
            figure.savefig(folder / name, dpi=110)
            plt.close(figure)
        ref = _store().put_directory("optimizers-report", folder)
    return {"ref": ref, "claims": checks, "table": table, "plots": sorted(figures)}


@task(name="log-report")
def log_report_task(run_id: str, report: dict[str, Any]) -> None:
    """Log the comparison table, claim numbers and plots on the parent MLflow run."""
    client = MlflowClient()
    folder = _store().resolve(report["ref"])
    client.log_table(run_id, pd.DataFrame(report["table"]), "tables/comparison.json")
    for name in report["plots"]:
        client.log_artifact(run_id, str(folder / name), "plots")
    client.log_artifact(run_id, str(folder / "table.md"))
    log_metrics(run_id, {f"claim.{k}": v for k, v in report["claims"].items()})
