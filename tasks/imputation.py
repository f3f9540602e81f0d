"""Imputation stages: load, mask, train, impute, evaluate and report (MLflow tables and plots)."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from prefect import task  # noqa: E402
from prefect.logging import get_run_logger  # noqa: E402

from components.artifacts import ArtifactRef, ArtifactStore  # noqa: E402
from components.imputation.baselines import linear_impute, locf_impute, mean_impute, psw_impute  # noqa: E402
from components.imputation.data import (  # noqa: E402
    Scaler, load_series, perturb, simulate_missing, sliding_windows, split_series, synthetic_series,
)
from components.imputation.diffusion import DiffusionSettings, SPTSettings, sample_diffusion, train_diffusion  # noqa: E402
from components.imputation.metrics import crps, point_metrics  # noqa: E402
from components.imputation.model import Denoiser, DenoiserConfig  # noqa: E402
from flows.imputation_config import DataConfig, DiffusionConfig, MaskConfig, PSWConfig, RobustnessConfig, SPTConfig  # noqa: E402
from flows.settings import project_home  # noqa: E402
from tasks.caching import STAGE_CACHE  # noqa: E402
from tasks.tracking import log_metrics  # noqa: E402


def _store() -> ArtifactStore:
    return ArtifactStore(project_home())


def put_arrays(kind: str, arrays: dict[str, np.ndarray], meta: dict[str, Any] | None = None) -> ArtifactRef:
    """Store arrays (and JSON metadata) as a folder in the artifact store; return its reference."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / kind
        folder.mkdir()
        np.savez(folder / "arrays.npz", **arrays)
        (folder / "meta.json").write_text(json.dumps(meta or {}, sort_keys=True, indent=1), encoding="utf-8")
        store = _store()
        store.root.mkdir(parents=True, exist_ok=True)  # put_directory stages inside the store root
        return store.put_directory(kind, folder)


def read_arrays(ref: ArtifactRef) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    folder = _store().resolve(ref)
    with np.load(folder / "arrays.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return arrays, json.loads((folder / "meta.json").read_text(encoding="utf-8"))


def diffusion_settings(model: str, diffusion: DiffusionConfig, spt: SPTConfig, n_features: int) -> DiffusionSettings:
    denoiser = DenoiserConfig(channels=diffusion.channels, layers=diffusion.layers, heads=diffusion.heads, n_features=n_features)
    return DiffusionSettings(
        n_steps=diffusion.n_steps, epochs=diffusion.epochs, batch_size=diffusion.batch_size, lr=diffusion.lr,
        n_samples=diffusion.n_samples, seed=diffusion.seed, denoiser=denoiser,
        spt=SPTSettings(**spt.model_dump()) if model == "spirit" else None,
    )


@task(name="load", cache_policy=STAGE_CACHE, persist_result=True)
def load_task(data: DataConfig, source: Path | None, fingerprint: str) -> ArtifactRef:
    """Read the series, split it in time, standardise on the training part and cut windows."""
    logger = get_run_logger()
    if source is not None:
        values, columns = load_series(source, data.date_column, data.columns)
        name = str(source)
    else:
        values = synthetic_series(data.synthetic_length, data.synthetic_features, data.seed)
        columns, name = [f"x{k}" for k in range(values.shape[1])], "synthetic"
    parts = split_series(values, data.train_fraction, data.val_fraction)
    scaler = Scaler.fit(parts["train"])
    train = sliding_windows(scaler.transform(parts["train"]), data.window, data.train_stride, "training")
    test = sliding_windows(scaler.transform(parts["test"]), data.window, data.window, "test")
    if data.max_train_windows and len(train) > data.max_train_windows:
        train = train[np.linspace(0, len(train) - 1, data.max_train_windows).round().astype(int)]
    if data.max_test_windows:
        test = test[: data.max_test_windows]
    logger.info("%s: %d steps x %d features; %d training and %d test windows of %d steps",
                name, len(values), len(columns), len(train), len(test), data.window)
    meta = {"source": name, "columns": columns, "steps": len(values), "raw_missing": int(np.isnan(values).sum())}
    return put_arrays("imputation-data", {"train": train, "test": test, "mean": scaler.mean, "std": scaler.std}, meta)


@task(name="mask", cache_policy=STAGE_CACHE, persist_result=True)
def mask_task(data_ref: ArtifactRef, mask: MaskConfig, robustness: RobustnessConfig) -> ArtifactRef:
    """Build every evaluation condition: clean test windows at each rate, and perturbed ones at one rate."""
    arrays, _ = read_arrays(data_ref)
    test = arrays["test"]
    observed = np.isfinite(test)
    out: dict[str, np.ndarray] = {}
    conditions = []
    for rate in mask.rates:
        name = f"clean_{round(rate * 100)}pct"
        out[f"{name}/truth"] = test
        out[f"{name}/eval"] = simulate_missing(observed, rate, mask.pattern, mask.seed, mask.block)
        conditions.append({"name": name, "rate": rate, "perturbation": "none"})
    for offset, kind in enumerate(robustness.kinds):
        name = f"{kind}_{round(robustness.rate * 100)}pct"
        truth, outliers = perturb(test, kind, robustness.seed + offset, robustness.magnitude, robustness.outlier_rate)
        eval_mask = simulate_missing(observed, robustness.rate, mask.pattern, mask.seed, mask.block)
        out[f"{name}/truth"] = truth
        out[f"{name}/eval"] = eval_mask & ~outliers  # a spike is not predictable from its context
        conditions.append({"name": name, "rate": robustness.rate, "perturbation": kind})
    return put_arrays("imputation-masks", out, {"conditions": conditions})


@task(name="train", cache_policy=STAGE_CACHE, persist_result=True)
def train_task(data_ref: ArtifactRef, model: str, diffusion: DiffusionConfig, spt: SPTConfig) -> dict[str, Any]:
    """Train one diffusion imputer (plain or SPIRIT); return the checkpoint, history and seconds."""
    logger = get_run_logger()
    torch.set_num_threads(diffusion.threads)
    arrays, _ = read_arrays(data_ref)
    train = arrays["train"]
    settings = diffusion_settings(model, diffusion, spt, train.shape[-1])
    started = time.perf_counter()
    denoiser, history = train_diffusion(train, np.isfinite(train), settings, progress=True)
    seconds = time.perf_counter() - started
    logger.info("%s: %d epochs in %.1f s, final loss %.4f", model, len(history), seconds, history[-1]["loss"])
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "checkpoint"
        path.mkdir()
        torch.save(denoiser.state_dict(), path / "denoiser.pt")
        (path / "config.json").write_text(json.dumps(settings.denoiser.__dict__, sort_keys=True), encoding="utf-8")
        checkpoint = _store().put_directory("imputation-checkpoint", path)
    return {"checkpoint": checkpoint, "history": history, "train_seconds": seconds}


def load_denoiser(checkpoint: ArtifactRef, n_steps: int) -> Denoiser:
    path = _store().resolve(checkpoint)
    config = DenoiserConfig(**json.loads((path / "config.json").read_text(encoding="utf-8")))
    model = Denoiser(config, n_steps)
    model.load_state_dict(torch.load(path / "denoiser.pt", weights_only=True))
    return model


@task(name="impute", cache_policy=STAGE_CACHE, persist_result=True)
def impute_task(
    data_ref: ArtifactRef, masks_ref: ArtifactRef, model: str, checkpoint: ArtifactRef | None,
    diffusion: DiffusionConfig, spt: SPTConfig, psw: PSWConfig,
) -> dict[str, Any]:
    """Impute every condition with one model; return the stored predictions (and samples) and seconds."""
    logger = get_run_logger()
    torch.set_num_threads(diffusion.threads)
    masks, meta = read_arrays(masks_ref)
    out: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for condition in meta["conditions"]:
        name = condition["name"]
        truth, eval_mask = masks[f"{name}/truth"], masks[f"{name}/eval"]
        cond_mask = np.isfinite(truth) & ~eval_mask
        inputs = np.where(cond_mask, truth, 0.0)  # hidden values never reach an imputer
        if model == "mean":
            out[f"{name}/point"] = mean_impute(inputs, cond_mask)
        elif model == "locf":
            out[f"{name}/point"] = locf_impute(inputs, cond_mask)
        elif model == "linear":
            out[f"{name}/point"] = linear_impute(inputs, cond_mask)
        elif model == "psw":
            out[f"{name}/point"], _ = psw_impute(inputs, cond_mask, psw.epochs, psw.batch_size, psw.lr, psw.reg, psw.reg_m, psw.n_iter)
        else:
            settings = diffusion_settings(model, diffusion, spt, truth.shape[-1])
            denoiser = load_denoiser(checkpoint, settings.n_steps)
            samples = sample_diffusion(denoiser, inputs, cond_mask, settings, proximal=model == "spirit")
            out[f"{name}/samples"] = samples
            out[f"{name}/point"] = np.median(samples, axis=0)
    seconds = time.perf_counter() - started
    logger.info("%s imputed %d conditions in %.1f s", model, len(meta["conditions"]), seconds)
    return {"predictions": put_arrays("imputation-predictions", out, {"model": model}), "impute_seconds": seconds}


@task(name="evaluate", cache_policy=STAGE_CACHE, persist_result=True)
def evaluate_task(masks_ref: ArtifactRef, predictions: dict[str, ArtifactRef]) -> ArtifactRef:
    """Score each model on each condition: MAE, MSE, MRE on hidden entries, CRPS for sampled models."""
    masks, meta = read_arrays(masks_ref)
    report: dict[str, dict[str, dict[str, float]]] = {}
    for condition in meta["conditions"]:
        name = condition["name"]
        truth, eval_mask = masks[f"{name}/truth"], masks[f"{name}/eval"]
        report[name] = {}
        for model, ref in predictions.items():
            arrays, _ = read_arrays(ref)
            scores = point_metrics(arrays[f"{name}/point"], truth, eval_mask)
            if f"{name}/samples" in arrays:
                scores["crps"] = crps(arrays[f"{name}/samples"], truth, eval_mask)
            report[name][model] = scores
    return _store().put_json("imputation-report", {"conditions": meta["conditions"], "metrics": report})


def results_table(report: dict[str, Any]) -> pd.DataFrame:
    """Flatten the evaluation report into one row per condition and model."""
    rows = []
    for condition in report["conditions"]:
        for model, scores in report["metrics"][condition["name"]].items():
            rows.append({"condition": condition["name"], "perturbation": condition["perturbation"],
                         "rate": condition["rate"], "model": model, **scores})
    return pd.DataFrame(rows)


def imputation_figure(truth: np.ndarray, eval_mask: np.ndarray, predictions: dict[str, np.ndarray], feature: int, title: str):
    """Plot one window's feature: true series, hidden points and each model's imputation."""
    figure, axis = plt.subplots(figsize=(8, 3.5))
    steps = np.arange(len(truth))
    axis.plot(steps, truth[:, feature], color="black", linewidth=1.5, label="true")
    hidden = eval_mask[:, feature]
    axis.scatter(steps[hidden], truth[hidden, feature], color="black", marker="x", zorder=3, label="hidden")
    for model, prediction in predictions.items():
        axis.plot(steps, np.where(hidden, prediction[:, feature], np.nan), marker="o", markersize=3, linewidth=0.8, label=model)
    axis.set_xlabel("step")
    axis.set_ylabel("standardised value")
    axis.set_title(title)
    axis.legend(fontsize=7, ncol=4)
    figure.tight_layout()
    return figure


@task(name="report")
def report_task(run_id: str, report_ref: ArtifactRef, masks_ref: ArtifactRef, predictions: dict[str, ArtifactRef],
                timings: dict[str, float]) -> dict[str, float]:
    """Log the results table, metrics, timings and imputation plots to MLflow; return the flat metrics."""
    client = MlflowClient()
    report = _store().read_json(report_ref)
    table = results_table(report)
    client.log_table(run_id, table, "tables/results.json")
    flat = {f"{row.condition}.{row.model}.{key}": float(getattr(row, key))
            for row in table.itertuples() for key in ("mae", "mse", "mre", "crps") if key in table.columns and not pd.isna(getattr(row, key))}
    flat.update(timings)
    log_metrics(run_id, flat)

    masks, meta = read_arrays(masks_ref)
    loaded = {model: read_arrays(ref)[0] for model, ref in predictions.items()}
    for condition in meta["conditions"]:
        name = condition["name"]
        truth, eval_mask = masks[f"{name}/truth"], masks[f"{name}/eval"]
        window = int(np.argmax(eval_mask.sum((1, 2))))
        feature = int(np.argmax(eval_mask[window].sum(0)))
        figure = imputation_figure(truth[window], eval_mask[window], {m: a[f"{name}/point"][window] for m, a in loaded.items()},
                                   feature, f"{name}: window {window}, feature {feature}")
        client.log_figure(run_id, figure, f"plots/{name}.png")
        plt.close(figure)
    return flat


def array_file_ref(ref: ArtifactRef) -> ArtifactRef:
    """Point at the arrays.npz inside a stored folder, so the versioning stage can publish it as one file."""
    from components.io import sha256_file

    path = f"{ref.path}/arrays.npz"
    return ArtifactRef(path=path, sha256=sha256_file(_store().home / path), kind=ref.kind, count=1)
