"""Reward-model training and evaluation stages."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from prefect import task
from prefect.logging import get_run_logger

from components.artifacts import ArtifactRef, ArtifactStore
from components.proofs.schema import Triplet
from components.rm.evaluate import build_report, fit_baselines, labels_of
from components.rm.model import ProofRewardModel, RewardModelConfig
from components.rm.train import TrainSettings, example_from_triplet, train_reward_model
from flows.config import EvalConfig, ModelConfig, TrainConfig
from flows.settings import project_home
from tasks.caching import STAGE_CACHE


def _store() -> ArtifactStore:
    return ArtifactStore(project_home())


def load_checkpoint(ref: ArtifactRef) -> ProofRewardModel:
    return ProofRewardModel.load(_store().resolve(ref))


@task(name="train", cache_policy=STAGE_CACHE, persist_result=True)
def train_task(
    train_ref: ArtifactRef, val_ref: ArtifactRef, model: ModelConfig, train: TrainConfig
) -> dict[str, Any]:
    """Train the reward model; return the checkpoint reference, per-epoch history and threshold."""
    logger = get_run_logger()
    store = _store()
    torch.manual_seed(train.seed)
    train_examples = [example_from_triplet(t) for t in store.read_jsonl(train_ref, Triplet)]
    val_examples = [example_from_triplet(t) for t in store.read_jsonl(val_ref, Triplet)]
    logger.info("training on %d proofs, validating on %d", len(train_examples), len(val_examples))

    reward_model = ProofRewardModel(RewardModelConfig(**model.model_dump()))
    started = time.perf_counter()
    result = train_reward_model(
        reward_model,
        train_examples,
        val_examples,
        TrainSettings(**train.model_dump()),
        progress=True,
    )
    seconds = time.perf_counter() - started
    logger.info("best epoch %d (validation AUROC %.4f), threshold %.3f, %.1f s",
                result.best_epoch, result.best_score, result.threshold, seconds)

    with tempfile.TemporaryDirectory() as scratch:
        reward_model.save(Path(scratch) / "checkpoint")
        checkpoint = store.put_directory("checkpoint", Path(scratch) / "checkpoint")
    return {
        "checkpoint": checkpoint,
        "history": result.history,
        "best_epoch": result.best_epoch,
        "threshold": result.threshold,
        "train_seconds": seconds,
        "class_weights": asdict(result.class_weights) if result.class_weights else None,
    }


@task(name="evaluate", cache_policy=STAGE_CACHE, persist_result=True)
def evaluate_task(
    checkpoint: ArtifactRef,
    train_ref: ArtifactRef,
    datasets: dict[str, ArtifactRef],
    evaluation: EvalConfig,
    seed: int,
) -> ArtifactRef:
    """Score every evaluation set with the reward model and the baselines; store the reports as JSON."""
    logger = get_run_logger()
    store = _store()
    reward_model = ProofRewardModel.load(store.resolve(checkpoint))
    baselines = fit_baselines(store.read_jsonl(train_ref, Triplet), seed=seed) if evaluation.baselines else []

    reports: dict[str, Any] = {}
    for name, ref in datasets.items():
        triplets = store.read_jsonl(ref, Triplet)
        started = time.perf_counter()
        scores = reward_model.score([(t.question, t.steps) for t in triplets], batch_size=evaluation.batch_size, progress=True)
        seconds = time.perf_counter() - started
        outcome = [s.outcome for s in scores]
        entry = {
            "reward_model": build_report("reward_model", triplets, outcome, threshold=reward_model.threshold, seed=seed).to_dict(),
            "reward_model_min_step": build_report(
                "reward_model_min_step", triplets, [s.min_step for s in scores], threshold=reward_model.threshold, seed=seed
            ).to_dict(),
            "baselines": {
                b.name: build_report(b.name, triplets, b.score(triplets), threshold=b.threshold, seed=seed).to_dict()
                for b in baselines
            },
            "labels": labels_of(triplets),
            "scores": outcome,
            "scoring_seconds": seconds,
            "proofs_per_second": len(triplets) / seconds if seconds > 0 else None,
        }
        reports[name] = entry
        metrics = entry["reward_model"]["metrics"]
        logger.info("%s: n=%d accuracy=%.3f balanced=%.3f AUROC=%.3f F1(incorrect)=%.3f (%.1f proofs/s)",
                    name, len(triplets), metrics["accuracy"], metrics["balanced_accuracy"],
                    metrics["auroc"], metrics["f1_incorrect"], entry["proofs_per_second"] or 0.0)
    return store.put_json("evaluation", reports)
