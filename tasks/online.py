"""Stages of the online-learning pipeline: sample classes, dimensions, play, separation, report."""

from __future__ import annotations

import json
import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from components.online.classes import HypothesisClass
from components.online.dimensions import LimitExceeded, SearchLimits
from components.online.experiment import analyse_class, play_class, sample_classes, separation_experiment
from flows.online_learning_config import ClassesConfig, DimensionsConfig, PlayConfig, SeparationConfig
from flows.settings import project_home
from tasks.caching import STAGE_CACHE
from tasks.tracking import log_metrics


def _store() -> ArtifactStore:
    return ArtifactStore(project_home())


def _limits(config: DimensionsConfig) -> SearchLimits:
    return SearchLimits(max_seconds=config.max_seconds, max_states=config.max_states)


@task(name="sample", cache_policy=STAGE_CACHE, persist_result=True)
def sample_classes_task(config: ClassesConfig) -> ArtifactRef:
    """Draw the random, nested-inclusion and Helly-number-2 classes."""
    classes = sample_classes(config.per_family, config.n_hypotheses, config.n_instances, config.n_labels,
                             config.density, config.max_width, config.seed)
    get_run_logger().info("sampled %d classes", len(classes))
    return _store().put_jsonl("online-classes", [c.to_dict() for c in classes])


def _read_classes(ref: ArtifactRef) -> list[HypothesisClass]:
    path = _store().resolve(ref)
    return [HypothesisClass.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]


@task(name="dimensions", cache_policy=STAGE_CACHE, persist_result=True)
def dimensions_task(classes_ref: ArtifactRef, config: DimensionsConfig) -> ArtifactRef:
    """Compute PFLdim, the full-feedback Littlestone dimension and randomized bounds of every class."""
    logger = get_run_logger()
    rows = [analyse_class(c, config.resolution, _limits(config)) for c in _read_classes(classes_ref)]
    stopped = [r["name"] for r in rows if r["status"] != "ok"]
    if stopped:
        logger.warning("searches stopped at their limits for %d classes: %s", len(stopped), ", ".join(stopped))
    return _store().put_jsonl("online-dimensions", rows)


@task(name="play", cache_policy=STAGE_CACHE, persist_result=True)
def play_task(classes_ref: ArtifactRef, dimensions_ref: ArtifactRef, dimensions: DimensionsConfig,
              config: PlayConfig) -> ArtifactRef:
    """Play every learner on every class whose dimensions were computed."""
    done = {json.loads(line)["name"] for line in _store().resolve(dimensions_ref).read_text().splitlines()
            if json.loads(line)["status"] == "ok"}
    rows = []
    for i, hclass in enumerate(_read_classes(classes_ref)):
        if hclass.name not in done:
            continue
        try:
            rows += play_class(hclass, dimensions.resolution, config.horizon, config.n_sequences, config.exhaustive,
                               _limits(dimensions), config.seed + i)
        except LimitExceeded as exc:
            get_run_logger().warning("%s skipped in play: %s", hclass.name, exc)
    return _store().put_jsonl("online-play", rows)


@task(name="separation", cache_policy=STAGE_CACHE, persist_result=True)
def separation_task(config: SeparationConfig, resolution: int) -> ArtifactRef:
    """Regret on the two-hypothesis class inside and outside set realizability."""
    result = separation_experiment(config.horizon, config.n_sequences, config.n_extra_labels, resolution, config.seed)
    return _store().put_json("online-separation", result)


def summarize(dimension_rows: list[dict], play_rows: list[dict], separation: dict) -> dict[str, float]:
    """Reduce the stage outputs to the flat metrics the run reports."""
    ok = [r for r in dimension_rows if r["status"] == "ok"]
    metrics: dict[str, float] = {
        "classes": len(dimension_rows), "classes_within_limits": len(ok),
        "pfl_ge_littlestone_fraction": float(np.mean([r["pfl_dim"] >= r["littlestone_dim"] for r in ok])) if ok else math.nan,
    }
    optimal = [r for r in play_rows if r["learner"] == "optimal-deterministic"]
    checked = [r for r in optimal if r["worst_case"] is not None]
    if checked:
        metrics["optimal_worst_case_equals_pfl_fraction"] = float(np.mean([r["worst_case"] == r["pfl_dim"] for r in checked]))
        metrics["optimal_worst_case_checked"] = len(checked)
    metrics["optimal_game_tree_equals_pfl_fraction"] = float(
        np.mean([r["game_tree_mistakes"] == r["pfl_dim"] for r in optimal])) if optimal else math.nan
    for family in sorted({r["family"] for r in ok}):
        rows = [r for r in ok if r["family"] == family]
        metrics[f"{family}.mean_pfl_dim"] = float(np.mean([r["pfl_dim"] for r in rows]))
        metrics[f"{family}.mean_littlestone_dim"] = float(np.mean([r["littlestone_dim"] for r in rows]))
        metrics[f"{family}.mean_randomized_upper"] = float(np.mean([r["randomized_upper"] for r in rows]))
        metrics[f"{family}.mean_randomized_lower"] = float(np.mean([r["randomized_lower"] for r in rows]))
        helly = [r["helly_number"] for r in rows if r["helly_number"] is not None]
        metrics[f"{family}.mean_helly_number"] = float(np.mean(helly)) if helly else math.nan
    for row in play_rows:
        if row["bound"] is not None:
            key = f"{row['learner']}.max_regret_over_bound"
            metrics[key] = max(metrics.get(key, -math.inf), row["max_regret"] - row["bound"])
    for name, entry in separation["learners"].items():
        metrics[f"separation.{name}.superset_slope"] = entry["superset.slope"]
        metrics[f"separation.{name}.realizable_final_regret"] = entry["set-realizable.final_regret"]
    return metrics


def _figures(dimension_rows: list[dict], play_rows: list[dict], separation: dict) -> dict[str, Any]:
    figures = {}
    ok = [r for r in dimension_rows if r["status"] == "ok"]

    figure, axis = plt.subplots(figsize=(5, 4))
    optimal = [r for r in play_rows if r["learner"] == "optimal-deterministic"]
    axis.scatter([r["pfl_dim"] for r in optimal], [r["game_tree_mistakes"] for r in optimal], label="game-tree adversary")
    checked = [r for r in optimal if r["worst_case"] is not None]
    if checked:
        axis.scatter([r["pfl_dim"] for r in checked], [r["worst_case"] for r in checked], marker="x",
                     label="exhaustive adversary")
    axis.set_xlabel("PFLdim"), axis.set_ylabel("worst-case mistakes of the optimal learner"), axis.legend()
    figures["plots/pfl_vs_worst_case.png"] = figure

    figure, axis = plt.subplots(figsize=(6, 4))
    families = sorted({r["family"] for r in ok})
    for offset, (key, label) in enumerate((("pfl_dim", "PFLdim (deterministic)"),
                                           ("randomized_upper", "randomized upper bound"),
                                           ("randomized_lower", "randomized lower bound"))):
        values = [np.mean([r[key] for r in ok if r["family"] == f]) for f in families]
        axis.bar(np.arange(len(families)) + 0.27 * offset, values, width=0.27, label=label)
    axis.set_xticks(np.arange(len(families)) + 0.27, families), axis.set_ylabel("mean minimax mistakes"), axis.legend()
    figures["plots/deterministic_vs_randomized.png"] = figure

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, regime in zip(axes, ("set-realizable", "superset")):
        for name, entry in separation["learners"].items():
            axis.plot(np.arange(1, len(entry[f"{regime}.curve"]) + 1), entry[f"{regime}.curve"], label=name)
        axis.set_title(f"two hypotheses, {regime}"), axis.set_xlabel("round t")
    axes[0].set_ylabel("mean regret (worse h*)"), axes[1].legend()
    figures["plots/separation_regret.png"] = figure
    return figures


@task(name="report")
def report_task(run_id: str, dimensions_ref: ArtifactRef, play_ref: ArtifactRef,
                separation_ref: ArtifactRef) -> dict[str, float]:
    """Log metrics, tables and plots on the MLflow run; return the flat metrics."""
    store = _store()
    dimension_rows = [json.loads(line) for line in store.resolve(dimensions_ref).read_text().splitlines()]
    play_rows = [json.loads(line) for line in store.resolve(play_ref).read_text().splitlines()]
    separation = store.read_json(separation_ref)
    metrics = summarize(dimension_rows, play_rows, separation)
    log_metrics(run_id, metrics)

    client = MlflowClient()
    client.log_table(run_id, pd.DataFrame(dimension_rows), "tables/dimensions.json")
    client.log_table(run_id, pd.DataFrame(play_rows), "tables/play.json")
    for name, entry in separation["learners"].items():
        for step, value in enumerate(entry["superset.curve"], start=1):
            if step % max(1, len(entry["superset.curve"]) // 50) == 0:
                log_metrics(run_id, {f"separation.{name}.superset_regret": value}, step=step)
    for path, figure in _figures(dimension_rows, play_rows, separation).items():
        client.log_figure(run_id, figure, path)
        plt.close(figure)
    return metrics
